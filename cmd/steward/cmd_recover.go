package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v3"

	"steward/app"
	"steward/internal/errs"
	"steward/internal/keys"
	"steward/internal/state"
)

type recoverOptions struct {
	// PasswordFiles are NAME=FILE pairs: repository NAME's password is in
	// FILE.
	PasswordFiles []string
}

func newRecoverCommand(g *globalOptions) *cli.Command {
	var opts recoverOptions
	return &cli.Command{
		Name:  "recover",
		Usage: "rebuild a new host's state dir from the repositories (after the old host was lost)",
		Description: `recover brings Steward back on a new host: with the same config, it
initialises the state dir if it is not (as init does: a new master key and
catalog), then rebuilds the catalog from the repositories themselves — every
snapshot of every job, the run that made it and its manifest — so that
snapshots, drill run and backup run work again. Each repository's password
is read from a file (--password-file NAME=FILE, once per repository; never
from the command line) and, once it has opened its repository, sealed under
the new master key as repo init does. A repository that does not answer is
named and the others are still rebuilt (exit 1); run recover again with its
password once it answers: what is in the catalog already is kept, not added
twice.

recover refuses a state dir whose catalog holds runs or snapshots it did not
rebuild itself: that is a live host's. Secrets in the config that were sealed
under the old master key (sealed:v1:…) do not open with the new one: seal
them again with steward secret seal, or give them as env: or file:.

The audit log of the new state dir starts with steward.init, then
recovery.rebuild (the counts per repository) and recovery.seal-passwords.
See docs/runbook-restore.md, "Rebuilding Steward on a new host".`,
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "password-file", Usage: "repository NAME's password is in `NAME=FILE` (repeat for each repository)", Destination: &opts.PasswordFiles},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if cmd.Args().Len() > 0 {
				return errs.Usage("recover takes no arguments: give each password as --password-file NAME=FILE")
			}
			return runRecover(ctx, opts, g, g.stdout)
		},
	}
}

func runRecover(ctx context.Context, opts recoverOptions, g *globalOptions, out io.Writer) error {
	if len(opts.PasswordFiles) == 0 {
		return errs.Usage("--password-file NAME=FILE: give the password of at least one repository")
	}
	passwords, err := readPasswordFiles(opts.PasswordFiles)
	if err != nil {
		return err
	}
	defer func() {
		for _, pw := range passwords {
			pw.Wipe()
		}
	}()
	cfg, err := g.loadConfig()
	if err != nil {
		return err
	}
	initialised := false
	if _, err := os.Stat(state.Dir(cfg.StateDir).Catalog()); errors.Is(err, fs.ErrNotExist) {
		if _, err := app.Init(ctx, g.appOptions()); err != nil {
			return err
		}
		initialised = true
	}
	a, err := g.open(ctx)
	if err != nil {
		return err
	}
	res, err := a.Rebuild(ctx, passwords, "password files")
	if res == nil {
		if app.IsRebuildUsage(err) {
			return errs.AsUsage(err)
		}
		return err
	}
	if g.JSON {
		if perr := printJSON(out, map[string]any{"state_dir": a.State.Root(), "initialised": initialised, "repositories": res.Repositories}); perr != nil {
			return perr
		}
		return err
	}
	if initialised {
		fmt.Fprintf(out, "Initialised state dir %s (new master key and catalog)\n", a.State.Root())
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "REPOSITORY\tKIND\tREAD\tSNAPSHOTS\tSNAPSHOT ROWS\tMANIFESTS\tRUNS\tALREADY\tPROBLEM")
	for _, r := range res.Repositories {
		problem := r.Error
		if problem == "" {
			problem = strings.Join(r.Problems, "; ")
		}
		if r.Unclaimed > 0 {
			problem = strings.TrimPrefix(problem+fmt.Sprintf("; %d snapshot(s) of jobs the config does not give this repository, left out", r.Unclaimed), "; ")
		}
		fmt.Fprintf(tw, "%s\t%s\t%t\t%d\t+%d\t+%d\t+%d\t%d\t%s\n", r.Name, r.Kind, r.Read, r.Snapshots, r.SnapshotRows, r.Manifests, r.Runs, r.Known, problem)
	}
	tw.Flush()
	if err == nil {
		fmt.Fprintln(out, "Catalog rebuilt; passwords sealed under the new master key. Next: steward snapshots; steward drill run")
	}
	return err
}

// readPasswordFiles reads each NAME=FILE's password (the file's content
// without a trailing newline).
func readPasswordFiles(pairs []string) (map[string]keys.Secret, error) {
	out := map[string]keys.Secret{}
	for _, p := range pairs {
		name, file, ok := strings.Cut(p, "=")
		if !ok || name == "" || file == "" {
			return nil, errs.Usage("--password-file %q: want NAME=FILE (the repository's name, the file holding its password)", p)
		}
		if _, dup := out[name]; dup {
			return nil, errs.Usage("--password-file: repository %q is named twice", name)
		}
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, errs.Usage("--password-file %s=…: %v", name, err)
		}
		b = bytes.TrimRight(b, "\r\n")
		if len(b) == 0 {
			return nil, errs.Usage("--password-file %s=%s: the file is empty", name, file)
		}
		out[name] = keys.Secret(b)
	}
	return out, nil
}
