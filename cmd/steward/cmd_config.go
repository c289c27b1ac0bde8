package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/urfave/cli/v3"

	"steward/app"
	"steward/internal/config"
	"steward/internal/keys"
)

type configCheckOptions struct {
	WithoutSecrets bool
}

func newConfigCommand(g *globalOptions) *cli.Command {
	var opts configCheckOptions
	return &cli.Command{
		Name:  "config",
		Usage: "check the config file",
		Commands: []*cli.Command{{
			Name:  "check",
			Usage: "validate the config and list every problem with its field path",
			Description: `check reads the config (--config, STEWARD_CONFIG, ./steward.yaml or the
embedded default), fills defaults and validates every section. Every problem
is listed at once as "field.path (line N): what is wrong and what to do".
Unknown keys are errors. Every file: and env: secret must exist here (the
values are read and discarded, never shown); --without-secrets skips that,
to check a config on a machine that does not hold its secrets. It changes
nothing. Exit 0 when valid, 2 otherwise.`,
			Flags: []cli.Flag{
				&cli.BoolFlag{Name: "without-secrets", Usage: "check the config's form only, not that its file: and env: secrets exist here", Destination: &opts.WithoutSecrets},
			},
			Action: func(ctx context.Context, cmd *cli.Command) error {
				return runConfigCheck(ctx, opts, g, g.stdout)
			},
		}},
	}
}

type configCheckResult struct {
	OK           bool            `json:"ok"`
	File         string          `json:"file"`
	Problems     config.Problems `json:"problems"`
	Warnings     []string        `json:"warnings,omitempty"`
	Contract     string          `json:"contract,omitempty"`
	StateDir     string          `json:"state_dir,omitempty"`
	Repositories int             `json:"repositories"`
	Sources      int             `json:"sources"`
	Jobs         int             `json:"jobs"`
}

func runConfigCheck(_ context.Context, opts configCheckOptions, g *globalOptions, out io.Writer) error {
	cfg, err := g.loadConfig()
	file := g.configSource()
	if file == "" {
		file = "(embedded default)"
	}
	res := configCheckResult{File: file, Problems: config.Problems{}}
	var problems config.Problems
	if err != nil && !errors.As(err, &problems) {
		return err
	}
	if cfg != nil && len(problems) == 0 && !opts.WithoutSecrets {
		// Valid, but does every file: and env: secret exist here? A run
		// would stop on the first missing one.
		problems = append(problems, keys.CheckConfig(cfg)...)
	}
	res.Problems = append(res.Problems, problems...)
	res.OK = len(res.Problems) == 0
	if cfg != nil {
		res.Contract, res.StateDir = cfg.Contract.ID, cfg.StateDir
		res.Repositories, res.Sources, res.Jobs = len(cfg.Repositories), len(cfg.Sources), len(cfg.Jobs)
		if res.OK {
			if c, err := g.appOptions().ZonedClock(cfg); err == nil {
				res.Warnings = app.ConfigWarnings(cfg, c)
			}
		}
	}
	if g.JSON {
		if perr := printJSON(out, res); perr != nil {
			return perr
		}
		if !res.OK {
			return problems
		}
		return nil
	}
	if !res.OK {
		fmt.Fprintf(out, "%s: %d problem(s):\n", file, len(res.Problems))
		for _, p := range res.Problems {
			fmt.Fprintf(out, "  %s\n", p)
		}
		return fmt.Errorf("config %s is not valid: fix the fields above%w", file, quiet(problems))
	}
	fmt.Fprintf(out, "%s: OK (contract %s; %d repositories, %d sources, %d jobs; state dir %s)\n",
		file, res.Contract, res.Repositories, res.Sources, res.Jobs, res.StateDir)
	for _, w := range res.Warnings {
		fmt.Fprintf(out, "warning: %s\n", w)
	}
	return nil
}

// quietErr carries an error for the exit code without repeating its text.
type quietErr struct{ err error }

func (q quietErr) Error() string { return "" }
func (q quietErr) Unwrap() error { return q.err }

func quiet(err error) error { return quietErr{err} }
