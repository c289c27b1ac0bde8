// Command steward keeps one contract's data backed up, proves it can be
// restored, and at contract end erases it and issues a signed certificate.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v3"

	"steward/internal/errs"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	// What Steward and its children (restic's cache, pg_dump) create is
	// for its own user only, whatever the mode they ask for.
	syscall.Umask(0o077)
	ctx, stop := rootContext()
	code := run(ctx, os.Args, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// rootContext is the one root context: cancelled on SIGINT or SIGTERM.
func rootContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// run executes one command line and returns the exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	g := &globalOptions{stdin: stdin, stdout: stdout, stderr: stderr, clockSync: systemClockSync}
	app := newApp(g)
	err := app.Run(ctx, args)
	g.close()
	code := exitCode(ctx, err)
	if err != nil {
		reportError(g, err, code)
	}
	return code
}

func reportError(g *globalOptions, err error, code int) {
	if g.JSON {
		_ = newJSONEncoder(g.stderr).Encode(map[string]any{"error": err.Error(), "exit_code": code})
		return
	}
	fmt.Fprintf(g.stderr, "steward: %v\n", err)
}

func newApp(g *globalOptions) *cli.Command {
	app := &cli.Command{
		Name:    "steward",
		Usage:   "backups, restore drills and certified erasure for one contract's data",
		Version: version,
		Description: `Steward backs up a contract's data (directories, PostgreSQL databases, S3
buckets) into encrypted restic repositories with replicas, proves that it
can be restored with regular drills, and at contract end erases every copy
and issues a signed deletion certificate.

Start with:
   steward init                 create the state dir (catalog, keys, signing certificate)
   steward config check         check the config; every problem is listed with its field
   steward status               what is configured, clock sync, restic, audit log head

Without --config (or STEWARD_CONFIG) Steward reads ./steward.yaml, or else
its embedded default: a local repository under ./steward-state and one path
source, ./demo-data (see examples/minimal.yaml).

All times are RFC 3339 in the contract's time zone (default Asia/Tokyo).
Every command that changes anything is recorded in the audit log.

` + exitCodeHelp,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "config", Aliases: []string{"c"}, Usage: "config `FILE`", Sources: cli.EnvVars("STEWARD_CONFIG"), Destination: &g.ConfigPath},
			&cli.StringFlag{Name: "state-dir", Usage: "use `DIR` as the state dir instead of the config's state_dir", Sources: cli.EnvVars("STEWARD_STATE_DIR"), Destination: &g.StateDir},
			&cli.BoolFlag{Name: "json", Usage: "machine-readable output for scripts: one JSON value per line", Destination: &g.JSON},
			&cli.StringFlag{Name: "log-level", Value: "warn", Usage: "debug, info, warn or error (logs go to stderr)", Sources: cli.EnvVars("STEWARD_LOG_LEVEL"), Destination: &g.LogLevel},
			&cli.StringFlag{Name: "log-format", Value: "text", Usage: "text or json (one JSON object per line, for journald and collectors)", Sources: cli.EnvVars("STEWARD_LOG_FORMAT"), Destination: &g.LogFormat,
				Validator: func(v string) error {
					if v != "text" && v != "json" {
						return errs.Usage("--log-format %q: use text or json", v)
					}
					return nil
				}},
		},
		Commands: []*cli.Command{
			newInitCommand(g),
			newConfigCommand(g),
			newStatusCommand(g),
			newCatalogCommand(g),
			newTokenCommand(g),
			newUserCommand(g),
			newAuditCommand(g),
			newSecretCommand(g),
			newRepoCommand(g),
			newBackupCommand(g),
			newSnapshotsCommand(g),
			newRestoreCommand(g),
			newRecoverCommand(g),
			newHandoverCommand(g),
			newRecoveryCommand(g),
			newDrillCommand(g),
			newEraseCommand(g),
			newReportCommand(g),
			newVerifyCommand(g),
			newCertificateCommand(g),
			newServeCommand(g),
			newVersionCommand(g),
		},
		Writer:          g.stdout,
		ErrWriter:       g.stderr,
		HideHelpCommand: true,
		Suggest:         true,
		ExitErrHandler:  func(context.Context, *cli.Command, error) {},
	}
	markUsageErrors(app)
	return app
}

// markUsageErrors makes flag and argument mistakes exit with code 2 on
// every command.
func markUsageErrors(c *cli.Command) {
	c.OnUsageError = func(_ context.Context, _ *cli.Command, err error, _ bool) error {
		return usageErr(err)
	}
	if c.Action == nil && len(c.Commands) > 0 {
		// A group: unknown words are usage errors, none shows the help.
		c.Action = func(ctx context.Context, cmd *cli.Command) error {
			if cmd.Args().Len() > 0 {
				return errs.Usage("unknown command %q: `%s --help` lists the commands", cmd.Args().First(), cmd.FullName())
			}
			return cli.ShowSubcommandHelp(cmd)
		}
	}
	for _, sub := range c.Commands {
		markUsageErrors(sub)
	}
}
