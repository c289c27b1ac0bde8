package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v3"

	"steward/backup"
	"steward/internal/clock"
	"steward/internal/errs"
	"steward/internal/repo"
)

type snapshotsOptions struct {
	Job string
}

func newSnapshotsCommand(g *globalOptions) *cli.Command {
	var opts snapshotsOptions
	return &cli.Command{
		Name:  "snapshots",
		Usage: "list a job's snapshots with the replicas that hold them",
		Description: `snapshots asks the job's primary repository for its snapshots and each
replica for its copies. Times are in the contract's time zone.

` + filesColumnSnapshots,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "job", Usage: "the job `NAME` (all jobs when left out)", Destination: &opts.Job},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			return runSnapshots(ctx, opts, g, g.stdout)
		},
	}
}

// filesColumnSnapshots says what the FILES column (JSON "files") counts.
const filesColumnSnapshots = `FILES (JSON "files") is restic's count of the regular files in the
snapshot: symlinks, directories and special files are not counted. A
database or bucket source is stored as one file (the dump, the archive):
its FILES is 1.`

func runSnapshots(ctx context.Context, opts snapshotsOptions, g *globalOptions, out io.Writer) error {
	eng, e, err := newEngine(ctx, g)
	if err != nil {
		return err
	}
	jobs := []string{opts.Job}
	if opts.Job == "" {
		jobs = jobs[:0]
		for _, j := range e.Config.Jobs {
			jobs = append(jobs, j.Name)
		}
	} else if _, ok := e.Config.Job(opts.Job); !ok {
		return errs.Usage("--job %q: no such job in the config", opts.Job)
	}
	var lists []*backup.SnapshotList
	for _, j := range jobs {
		l, err := eng.Snapshots(ctx, j)
		if err != nil {
			return fmt.Errorf("job %q: %w", j, err)
		}
		lists = append(lists, l)
	}
	if g.JSON {
		return printJSON(out, lists)
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "JOB\tID\tTIME\tSOURCE\tSIZE\tFILES\tREPOSITORY\tREPLICAS")
	var problems []string
	for _, l := range lists {
		for _, s := range l.Snapshots {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", l.Job, s.ShortID, s.Time.Format(clock.Layout), s.Source, size(s.Bytes), s.Files, s.Repository, strings.Join(s.Replicas, ", "))
		}
		problems = append(problems, l.Problems...)
	}
	tw.Flush()
	for _, p := range problems {
		fmt.Fprintln(out, "warning:", p)
	}
	return nil
}

func isAlreadyInitialized(err error) bool { return errors.Is(err, repo.ErrAlreadyInitialized) }

func joinErrs(es []error) error { return errors.Join(es...) }
