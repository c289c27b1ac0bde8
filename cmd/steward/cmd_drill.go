package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v3"

	"steward/app"
	"steward/drills"
	"steward/internal/progress"
)

type drillRunOptions struct {
	Repository   string
	Job          string
	Source       string
	Snapshot     string
	Participants []string
}

type drillShowOptions struct {
	ID string
}

func newDrillCommand(g *globalOptions) *cli.Command {
	var run drillRunOptions
	return &cli.Command{
		Name:  "drill",
		Usage: "restore drills: prove that backups come back (req 22)",
		Commands: []*cli.Command{{
			Name:  "run",
			Usage: "restore into scratch, verify against the manifest, measure RTO/RPO, clean up, record",
			Description: `run drills each source of the job (or --source), following
docs/runbook-restore.md: choose the snapshot (latest, random within
drills.random_window, or an id), restore it into scratch, verify every file,
table or object against the backup-time manifest independently of restic,
read a rotating subset of the repository (restic check --read-data-subset
k/N), measure RTO and RPO against their targets, remove the scratch copy and
check by listing that it is gone. Leftovers of crashed drills are removed
first. Exit code 3 when any step or check fails.

--repository NAME drills the copy held by one of the job's replicas: its
manifest is read from that repository (or the catalog), its data subset is
read there, and its verdict is kept: a replica that fails is shown as failing
by status and every backup run until a check or drill of it passes.`,
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "job", Usage: "the job `NAME` (may be left out when the config has one job)", Destination: &run.Job},
				&cli.StringFlag{Name: "source", Usage: "drill only source `NAME`", Destination: &run.Source},
				&cli.StringFlag{Name: "repository", Usage: "drill the copy in replica `NAME` instead of the job's primary repository", Destination: &run.Repository},
				&cli.StringFlag{Name: "snapshot", Usage: "`latest`, random or a snapshot id (default: drills.snapshot)", Destination: &run.Snapshot},
				&cli.StringSliceFlag{Name: "participant", Usage: "a `NAME` of someone taking part (repeat the flag)", Destination: &run.Participants},
			},
			Action: func(ctx context.Context, cmd *cli.Command) error {
				return runDrillRun(ctx, run, g, g.stdout)
			},
		}, {
			Name:   "list",
			Usage:  "list drills, newest first",
			Action: func(ctx context.Context, cmd *cli.Command) error { return runDrillList(ctx, g, g.stdout) },
		}, {
			Name:      "show",
			Usage:     "show one drill's record",
			ArgsUsage: "ID",
			Action: func(ctx context.Context, cmd *cli.Command) error {
				if err := requireArgs(cmd, 1, "one drill id"); err != nil {
					return err
				}
				return runDrillShow(ctx, drillShowOptions{ID: cmd.Args().First()}, g, g.stdout)
			},
		}, {
			Name:  "cleanup",
			Usage: "remove the scratch copies that crashed drills left, by their recorded names",
			Action: func(ctx context.Context, cmd *cli.Command) error {
				return runDrillCleanup(ctx, g, g.stdout)
			},
		}, newDrillReportCommand(g)},
	}
}

func newDriller(ctx context.Context, g *globalOptions) (*drills.Driller, *app.App, error) {
	a, err := g.open(ctx)
	if err != nil {
		return nil, nil, err
	}
	d, err := a.Driller(ctx)
	return d, a, err
}

func runDrillRun(ctx context.Context, opts drillRunOptions, g *globalOptions, out io.Writer) error {
	d, e, err := newDriller(ctx, g)
	if err != nil {
		return err
	}
	ro := drills.RunOptions{Repository: opts.Repository, Job: opts.Job, Source: opts.Source, Snapshot: opts.Snapshot, Participants: opts.Participants, Trigger: drills.TriggerOperator}
	switch {
	case g.JSON:
		enc := json.NewEncoder(out)
		enc.SetEscapeHTML(false)
		ro.Progress = func(ev drills.Event) { _ = enc.Encode(ev) }
	default:
		b := &bars{w: out}
		term := isTerminal(out)
		ro.Progress = func(ev drills.Event) {
			switch ev.Kind {
			case drills.EventProgress:
				if term && ev.Restore != nil && ev.Restore.Kind == "progress" {
					b.event(restoreLine(*ev.Restore))
				}
			case drills.EventLeftover:
				b.event(noteEvent("cleanup", fmt.Sprintf("removed the scratch that crashed drill %s left: %s (%s)", ev.DrillID, ev.Name, ev.Detail)))
			case drills.EventDone:
				b.event(noteEvent(ev.Source, "drill "+ev.DrillID+" "+strings.ToUpper(ev.Result)))
			default:
				b.event(noteEvent(ev.Source, fmt.Sprintf("%s %s %s", ev.Name, ev.Result, ev.Detail)))
			}
		}
	}
	recs, runErr := d.Run(ctx, ro)
	if g.JSON {
		if len(recs) > 0 {
			if err := printJSON(out, map[string]any{"kind": "report", "drills": recs, "error": errString(runErr)}); err != nil {
				return err
			}
		}
		return runErr
	}
	for _, r := range recs {
		fmt.Fprintln(out)
		printDrill(out, e, r)
	}
	return runErr
}

// noteEvent is a line under the progress bar ("source: message").
func noteEvent(source, msg string) progress.Event {
	return progress.Event{Kind: progress.Check, Source: source, Message: strings.TrimSpace(msg)}
}

func runDrillList(ctx context.Context, g *globalOptions, out io.Writer) error {
	d, e, err := newDriller(ctx, g)
	if err != nil {
		return err
	}
	recs, err := d.List(ctx, 0)
	if err != nil {
		return err
	}
	if g.JSON {
		return printJSON(out, recs)
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTARTED\tJOB\tSOURCE\tKIND\tSNAPSHOT\tRTO\tRPO\tSUBSET\tRESULT")
	for _, r := range recs {
		res := r.Result
		if res == "" {
			res = "running"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.DrillID, e.Clock.Format(r.Started), r.Job, r.Source, r.SourceKind,
			short(r.SnapshotID), r.RTO.Actual.Round(time.Millisecond), r.RPO.Actual.Round(time.Second), r.ReadDataSubset, res)
	}
	return tw.Flush()
}

func runDrillShow(ctx context.Context, opts drillShowOptions, g *globalOptions, out io.Writer) error {
	d, e, err := newDriller(ctx, g)
	if err != nil {
		return err
	}
	rec, err := d.Show(ctx, opts.ID)
	if errors.Is(err, drills.ErrNotFound) {
		return usageErr(err)
	}
	if err != nil {
		return err
	}
	if g.JSON {
		return printJSON(out, rec)
	}
	printDrill(out, e, rec)
	return nil
}

func runDrillCleanup(ctx context.Context, g *globalOptions, out io.Writer) error {
	d, _, err := newDriller(ctx, g)
	if err != nil {
		return err
	}
	rep, err := d.Cleanup(ctx)
	if g.JSON {
		if perr := printJSON(out, rep); perr != nil {
			return perr
		}
		return err
	}
	for _, s := range rep.Removed {
		state := "gone (checked by listing)"
		if !s.Gone {
			state = "NOT GONE"
		}
		fmt.Fprintf(out, "removed %s %s of drill %s: %s — %s\n", s.Kind, s.Name, s.Drill, s.Detail, state)
	}
	for _, id := range rep.Running {
		fmt.Fprintf(out, "drill %s is still running: left alone\n", id)
	}
	if len(rep.Drills) == 0 && len(rep.Running) == 0 {
		fmt.Fprintln(out, "no crashed drill left anything behind")
	} else if len(rep.Drills) > 0 {
		fmt.Fprintf(out, "%d crashed drill(s) marked interrupted: %s\n", len(rep.Drills), strings.Join(rep.Drills, ", "))
	}
	return err
}

func printDrill(out io.Writer, e *app.App, r *drills.Record) {
	res := r.Result
	if res == "" {
		res = "running"
	}
	fmt.Fprintf(out, "drill %s — %s\n", r.DrillID, strings.ToUpper(res))
	kv := func(k, v string) { fmt.Fprintf(out, "  %-16s %s\n", k+":", v) }
	kv("runbook", r.RunbookVersion)
	kv("trigger", r.Trigger+" by "+r.Operator)
	kv("participants", strings.Join(r.Participants, ", "))
	kv("job / source", fmt.Sprintf("%s / %s (%s)", r.Job, r.Source, r.SourceKind))
	kv("repository", r.Repository+" — "+r.RepositoryResidency)
	snap := r.SnapshotID
	if !r.SnapshotTime.IsZero() {
		snap += " of " + e.Clock.Format(r.SnapshotTime)
	}
	kv("snapshot", snap+" ("+r.SnapshotChoice+")")
	kv("manifest", fmt.Sprintf("%s, SHA-256 %s", r.Manifest.Origin, r.Manifest.SHA256))
	kv("started", e.Clock.Format(r.Started))
	if !r.Finished.IsZero() {
		kv("finished", e.Clock.Format(r.Finished))
	}
	kv("RTO", fmt.Sprintf("%s (target %s, met: %t)", r.RTO.Actual.Round(time.Millisecond), r.RTO.Target, r.RTO.Met))
	kv("RPO", fmt.Sprintf("%s (target %s, met: %t)", r.RPO.Actual.Round(time.Second), r.RPO.Target, r.RPO.Met))
	kv("read subset", r.ReadDataSubset.String())
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  STEP\tSTARTED\tFINISHED\tRESULT\tDETAIL")
	for _, s := range append(append([]drills.Step{}, r.Steps...), r.Cleanup) {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", s.Name, fmtTime(e, s.Started), fmtTime(e, s.Finished), s.Result, s.Detail)
	}
	tw.Flush()
	tw = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  CHECK\tEXPECTED\tACTUAL\tRESULT")
	for _, c := range r.Checks {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", c.Name, c.Expected, c.Actual, c.Result)
		if c.Detail != "" {
			fmt.Fprintf(tw, "  \t\t%s\t\n", c.Detail)
		}
	}
	tw.Flush()
	for _, s := range r.Leftovers {
		fmt.Fprintf(out, "  leftover of crashed drill %s removed: %s %s (%s)\n", s.Drill, s.Kind, s.Name, s.Detail)
	}
	for _, p := range r.Problems {
		fmt.Fprintf(out, "  PROBLEM: %s\n", p)
	}
}

func fmtTime(e *app.App, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return e.Clock.Format(t)
}
