package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v3"
	"golang.org/x/term"

	"steward/app"
	"steward/backup"
	"steward/internal/errs"
	"steward/internal/progress"
)

type backupRunOptions struct {
	Job    string
	DryRun bool
}

func newBackupCommand(g *globalOptions) *cli.Command {
	var opts backupRunOptions
	return &cli.Command{
		Name:  "backup",
		Usage: "back up a job's sources into its repositories",
		Commands: []*cli.Command{{
			Name:  "run",
			Usage: "run a backup job now: sources → primary repository → replicas, then retention",
			Description: `run checks, before any byte is written, that every S3 repository and
source is in an allowed region (residency.allowed_regions) and that every
endpoint, bucket, database, pg_dump and repository answers; then it backs up
each source of the job, copies each snapshot to the job's replicas and applies
the job's retention. --dry-run does the checks and writes nothing.

On a terminal a progress bar per source is drawn; with --json every event is
printed as one JSON line, then the report. The exit code is non-zero if any
source, copy or retention failed; each failure is named.

FILES (JSON "files") in the report counts, for a directory source, the
regular files restic backed up: symlinks, directories and special files are
not counted. For a bucket source it counts the objects; a database source
is one file, its dump.`,
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "job", Usage: "the job `NAME` (may be left out when the config has one job)", Destination: &opts.Job},
				&cli.BoolFlag{Name: "dry-run", Usage: "check everything, write nothing", Destination: &opts.DryRun},
			},
			Action: func(ctx context.Context, cmd *cli.Command) error {
				return runBackupRun(ctx, opts, g, g.stdout)
			},
		}},
	}
}

// newEngine opens the state dir and builds the backup engine.
func newEngine(ctx context.Context, g *globalOptions) (*backup.Engine, *app.App, error) {
	a, err := g.open(ctx)
	if err != nil {
		return nil, nil, err
	}
	eng, err := a.Backup(ctx)
	return eng, a, err
}

func runBackupRun(ctx context.Context, opts backupRunOptions, g *globalOptions, out io.Writer) error {
	eng, a, err := newEngine(ctx, g)
	if err != nil {
		return err
	}
	if opts.Job != "" {
		if _, ok := a.Config.Job(opts.Job); !ok {
			return errs.Usage("--job %q: no such job in the config", opts.Job)
		}
	}
	var onEvent func(progress.Event)
	switch {
	case g.JSON:
		enc := newJSONEncoder(out)
		onEvent = func(ev progress.Event) { _ = enc.Encode(ev) }
	case isTerminal(out):
		bars := &bars{w: out}
		onEvent = bars.event
	default:
		onEvent = func(ev progress.Event) {
			switch ev.Kind {
			case progress.Start, progress.Done, progress.Failed, progress.Copy, progress.Retention:
				fmt.Fprintln(out, eventLine(ev))
			}
		}
	}
	rep, runErr := eng.Run(ctx, backup.RunOptions{Job: opts.Job, DryRun: opts.DryRun, Progress: onEvent})
	if rep != nil {
		if g.JSON {
			if err := printJSON(out, map[string]any{"kind": "report", "report": rep, "error": errString(runErr)}); err != nil {
				return err
			}
		} else {
			printReport(out, rep)
		}
	}
	if errors.Is(runErr, backup.ErrNoJob) {
		return errs.AsUsage(runErr)
	}
	return runErr
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// bars draws one progress line per source, redrawn in place.
type bars struct {
	w       io.Writer
	drawing bool
}

func (b *bars) event(ev progress.Event) {
	switch ev.Kind {
	case progress.Progress:
		fmt.Fprintf(b.w, "\r\033[K%s", barLine(ev))
		b.drawing = true
	default:
		if b.drawing {
			fmt.Fprintln(b.w)
			b.drawing = false
		}
		fmt.Fprintln(b.w, eventLine(ev))
	}
}

func barLine(ev progress.Event) string {
	const width = 24
	bar := strings.Repeat("·", width)
	pct := ""
	if ev.BytesTotal > 0 {
		done := min(width, int(float64(width)*float64(ev.BytesDone)/float64(ev.BytesTotal)))
		bar = strings.Repeat("█", done) + strings.Repeat("·", width-done)
		pct = fmt.Sprintf(" %3d%%", min(100, 100*ev.BytesDone/ev.BytesTotal))
	}
	s := fmt.Sprintf("%-12s [%s]%s %s", ev.Source, bar, pct, size(ev.BytesDone))
	if ev.BytesTotal > 0 {
		s += " / " + size(ev.BytesTotal)
	}
	if ev.FilesDone > 0 {
		s += fmt.Sprintf("  %d files", ev.FilesDone)
	}
	if ev.Rate > 0 {
		s += "  " + size(int64(ev.Rate)) + "/s"
	}
	if ev.ETA > 0 {
		s += "  ETA " + ev.ETA.Round(time.Second).String()
	}
	return s
}

func eventLine(ev progress.Event) string {
	who := ev.Source
	if who == "" {
		who = ev.Repository
	}
	switch ev.Kind {
	case progress.Start:
		return fmt.Sprintf("%s: backing up into %s", who, ev.Repository)
	case progress.Done:
		return fmt.Sprintf("%s: snapshot %s (%s, %d files)", who, short(ev.SnapshotID), size(ev.BytesDone), ev.FilesDone)
	case progress.Copy:
		return fmt.Sprintf("%s: copied to %s (%s)", who, ev.Repository, ev.Message)
	case progress.Failed:
		return fmt.Sprintf("%s: FAILED: %s", who, ev.Error)
	case progress.Check:
		return fmt.Sprintf("%s: %s", who, ev.Message)
	}
	return fmt.Sprintf("%s: %s %s", who, ev.Kind, ev.Message)
}

func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

func size(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func printReport(out io.Writer, rep *backup.Report) {
	fmt.Fprintf(out, "\njob %s → %s", rep.Job, rep.Repository)
	if len(rep.Replicas) > 0 {
		fmt.Fprintf(out, " (replicas: %s)", strings.Join(rep.Replicas, ", "))
	}
	if rep.DryRun {
		fmt.Fprint(out, " — dry run, nothing written")
	}
	fmt.Fprintln(out)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SOURCE\tKIND\tRESULT\tSNAPSHOT\tREAD\tADDED\tFILES\tREPLICAS")
	for _, r := range rep.Runs {
		var copies []string
		for _, c := range r.Copies {
			copies = append(copies, c.Repository+":"+c.Result)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", r.Source, r.Kind, r.Result, short(r.SnapshotID), size(r.BytesRead), size(r.DataAdded), r.Files, strings.Join(copies, " "))
	}
	tw.Flush()
	fmt.Fprintln(out, "residency:")
	for _, res := range rep.Residency {
		fmt.Fprintf(out, "  %s: %s\n", res.Target, res.Answer)
	}
	for _, line := range rep.Retention {
		fmt.Fprintf(out, "retention: %s\n", line)
	}
	for _, h := range rep.Failing {
		fmt.Fprintf(out, "FAILING repository %s: %s\n", h.Repository, h)
	}
	for _, h := range rep.Hooks {
		verdict := "ok"
		if h.Error != "" {
			verdict = "FAILED: " + h.Error
		}
		fmt.Fprintf(out, "hook %s %s: %s (%s)\n", h.Hook, strings.Join(h.Argv, " "), verdict, h.Duration)
	}
}
