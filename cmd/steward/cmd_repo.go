package main

import (
	"context"
	"fmt"
	"io"

	"github.com/urfave/cli/v3"

	"steward/app"
	"steward/internal/config"
	"steward/internal/errs"
	"steward/internal/repo"
)

type repoInitOptions struct {
	Names []string
}

type repoUnlockOptions struct {
	Name string
}

func newRepoCommand(g *globalOptions) *cli.Command {
	return &cli.Command{
		Name:  "repo",
		Usage: "create, check and unlock restic repositories",
		Commands: []*cli.Command{{
			Name:      "init",
			Usage:     "create repositories (all configured ones when no NAME is given)",
			ArgsUsage: "[NAME…]",
			Description: `init creates each repository with a random 256-bit password that nobody
types or sees: it is sealed with the master key under
<state_dir>/keys/repositories/NAME.sealed. An S3 repository must be in an
allowed region (checked first). An already initialized repository is
reported and left alone.`,
			Action: func(ctx context.Context, cmd *cli.Command) error {
				return runRepoInit(ctx, repoInitOptions{Names: cmd.Args().Slice()}, g, g.stdout)
			},
		}, {
			Name:      "unlock",
			Usage:     "remove stale restic locks (from killed processes) from a repository",
			ArgsUsage: "NAME",
			Description: `unlock runs restic unlock, which removes only locks whose process is
gone; locks of live processes stay. Backups do this on their own when they
find a stale lock; the removal is recorded in the audit log.`,
			Action: func(ctx context.Context, cmd *cli.Command) error {
				if cmd.Args().Len() != 1 {
					return errs.Usage("repo unlock: give exactly one repository NAME")
				}
				return runRepoUnlock(ctx, repoUnlockOptions{Name: cmd.Args().First()}, g, g.stdout)
			},
		}, newRepoCheckCommand(g)},
	}
}

func runRepoInit(ctx context.Context, opts repoInitOptions, g *globalOptions, out io.Writer) error {
	repos, e, err := openRepos(ctx, g)
	if err != nil {
		return err
	}
	names, err := repositoryNames(e.Config, opts.Names, "repo init")
	if err != nil {
		return err
	}
	// Every repository's credentials resolve before any is created, so
	// that a missing secret (exit 2) means that nothing was changed.
	for _, n := range names {
		if _, err := repos.Resolve(n, false); err != nil {
			return err
		}
	}
	type result struct {
		Repository string `json:"repository"`
		Result     string `json:"result"`
		Error      string `json:"error,omitempty"`
	}
	var results []result
	var failed []error
	for _, n := range names {
		err := repos.Init(ctx, n)
		r := result{Repository: n, Result: "created"}
		switch {
		case err == nil:
		case isAlreadyInitialized(err):
			r.Result = "exists"
		default:
			r.Result, r.Error = "failed", err.Error()
			failed = append(failed, err)
		}
		results = append(results, r)
		if !g.JSON {
			if r.Error != "" {
				fmt.Fprintf(out, "%s: FAILED: %s\n", n, r.Error)
			} else {
				fmt.Fprintf(out, "%s: %s\n", n, r.Result)
			}
		}
	}
	if g.JSON {
		if err := printJSON(out, results); err != nil {
			return err
		}
	}
	return joinErrs(failed)
}

func runRepoUnlock(ctx context.Context, opts repoUnlockOptions, g *globalOptions, out io.Writer) error {
	repos, e, err := openRepos(ctx, g)
	if err != nil {
		return err
	}
	if _, ok := e.Config.Repository(opts.Name); !ok {
		return errs.Usage("repo unlock: no repository named %q in the config", opts.Name)
	}
	if err := repos.Unlock(ctx, opts.Name); err != nil {
		return err
	}
	if g.JSON {
		return printJSON(out, map[string]string{"repository": opts.Name, "result": "unlocked"})
	}
	fmt.Fprintf(out, "%s: stale locks removed\n", opts.Name)
	return nil
}

// openRepos opens the state dir and the configured repositories.
func openRepos(ctx context.Context, g *globalOptions) (*repo.Opener, *app.App, error) {
	a, err := g.open(ctx)
	if err != nil {
		return nil, nil, err
	}
	repos, err := a.Repos(ctx)
	return repos, a, err
}

// repositoryNames is names, or every configured repository when none is
// given; a name the config lacks is a usage error naming the command.
func repositoryNames(cfg *config.Config, names []string, command string) ([]string, error) {
	if len(names) == 0 {
		for _, r := range cfg.Repositories {
			names = append(names, r.Name)
		}
	}
	for _, n := range names {
		if _, ok := cfg.Repository(n); !ok {
			return nil, errs.Usage("%s: no repository named %q in the config", command, n)
		}
	}
	return names, nil
}
