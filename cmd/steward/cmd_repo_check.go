package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/urfave/cli/v3"
)

type repoCheckOptions struct {
	Names []string
}

func newRepoCheckCommand(g *globalOptions) *cli.Command {
	return &cli.Command{
		Name:      "check",
		Usage:     "check repositories and read their next data subset (all when no NAME is given)",
		ArgsUsage: "[NAME…]",
		Description: `check runs restic check --read-data-subset k/N on each repository — the
primary and every replica — k advancing by one per check or drill of that
repository, so N of them read every pack (drills.read_data_subsets).

The verdict is kept: a repository that fails is shown as failing by
` + "`steward status`" + ` and by every ` + "`steward backup run`" + ` (which then exits 1) until a
check or drill of it passes again. Exit 3 when a repository fails.`,
		Action: func(ctx context.Context, cmd *cli.Command) error {
			return runRepoCheck(ctx, repoCheckOptions{Names: cmd.Args().Slice()}, g, g.stdout)
		},
	}
}

func runRepoCheck(ctx context.Context, opts repoCheckOptions, g *globalOptions, out io.Writer) error {
	a, err := g.open(ctx)
	if err != nil {
		return err
	}
	names, err := repositoryNames(a.Config, opts.Names, "repo check")
	if err != nil {
		return err
	}
	d, err := a.Driller(ctx)
	if err != nil {
		return err
	}
	var failed []error
	for _, n := range names {
		res, err := d.CheckRepository(ctx, n)
		if err != nil {
			failed = append(failed, err)
		}
		switch {
		case g.JSON && res != nil:
			if perr := printJSON(out, res); perr != nil {
				return perr
			}
		case res != nil && res.Health.Result != "":
			fmt.Fprintf(out, "%s: %s (read-data subset %s)\n", n, res.Health, res.Subset)
		default:
			fmt.Fprintf(out, "%s: NOT CHECKED: %v\n", n, err)
		}
		if ctx.Err() != nil {
			break
		}
	}
	return errors.Join(failed...)
}
