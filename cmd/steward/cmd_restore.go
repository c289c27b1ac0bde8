package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v3"

	"steward/app"
	"steward/internal/errs"
	"steward/internal/progress"
	"steward/restore"
)

type restoreOptions struct {
	Repository string
	Job        string
	Source     string
	Snapshot   string
	To         string
	ToDatabase string
	ToBucket   string
	Force      bool
	IntoSource bool
	Confirm    string
}

func newRestoreCommand(g *globalOptions) *cli.Command {
	var opts restoreOptions
	return &cli.Command{
		Name:  "restore",
		Usage: "restore a snapshot of a job's source into a directory, a database or a bucket",
		Description: `restore brings back one source of a job from its primary repository
(or, with --repository NAME, from one of its replicas; a snapshot id may then
be the primary's id that ` + "`steward snapshots`" + ` lists, or the copy's own):
a directory tree into --to DIR; a PostgreSQL database into --to-database NAME
(created on the source's server; pg_restore of the server's major version);
a bucket into --to-bucket NAME (created on the source's endpoint, in an
allowed region) or into --to DIR as files.

A target that holds data is refused unless --force is given. The live source
itself is refused unless --into-source is given, and then the source's name
must be typed at the prompt (or given with --confirm NAME).

Every restore is recorded in the audit log as an access to contract data.
The procedure around it is in docs/runbook-restore.md.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "job", Usage: "the job `NAME` (may be left out when the config has one job)", Destination: &opts.Job},
			&cli.StringFlag{Name: "source", Usage: "the source `NAME` (may be left out when the job has one source)", Destination: &opts.Source},
			&cli.StringFlag{Name: "repository", Usage: "restore from replica `NAME` instead of the job's primary repository", Destination: &opts.Repository},
			&cli.StringFlag{Name: "snapshot", Value: "latest", Usage: "`latest` or a snapshot id (see `steward snapshots`)", Destination: &opts.Snapshot},
			&cli.StringFlag{Name: "to", Usage: "restore into directory `DIR` (directory and bucket sources)", Destination: &opts.To},
			&cli.StringFlag{Name: "to-database", Usage: "restore into database `NAME` on the source's server", Destination: &opts.ToDatabase},
			&cli.StringFlag{Name: "to-bucket", Usage: "restore into bucket `NAME` on the source's endpoint", Destination: &opts.ToBucket},
			&cli.BoolFlag{Name: "force", Usage: "write into a target that already holds data", Destination: &opts.Force},
			&cli.BoolFlag{Name: "into-source", Usage: "restore into the live source itself (asks for its name)", Destination: &opts.IntoSource},
			&cli.StringFlag{Name: "confirm", Usage: "the source's `NAME`, typed, to confirm --into-source", Destination: &opts.Confirm},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			return runRestore(ctx, opts, g, g.stdout)
		},
	}
}

func (o restoreOptions) request() app.RestoreRequest {
	return app.RestoreRequest{Repository: o.Repository, Job: o.Job, Source: o.Source, Snapshot: o.Snapshot, To: o.To, ToDatabase: o.ToDatabase, ToBucket: o.ToBucket,
		Force: o.Force, IntoSource: o.IntoSource, Confirm: o.Confirm}
}

func runRestore(ctx context.Context, opts restoreOptions, g *globalOptions, out io.Writer) error {
	if err := opts.request().Check(); err != nil {
		return err
	}
	a, err := g.open(ctx)
	if err != nil {
		return err
	}
	r, err := a.Restorer(ctx)
	if err != nil {
		return err
	}
	ro, src, err := a.RestoreOptions(ctx, r, opts.request())
	if err != nil {
		return err
	}
	if opts.IntoSource && opts.Confirm == "" {
		fmt.Fprintf(g.stderr, "This overwrites the live source %q with snapshot %s.\nType the source's name to go on: ", src.Name, opts.Snapshot)
		line, _ := bufio.NewReader(g.stdin).ReadString('\n')
		ro.Confirm = strings.TrimSpace(line)
	}
	switch {
	case g.JSON:
		enc := json.NewEncoder(out)
		enc.SetEscapeHTML(false)
		ro.Progress = func(ev restore.Event) { _ = enc.Encode(ev) }
	case isTerminal(out):
		b := &bars{w: out}
		ro.Progress = func(ev restore.Event) { b.event(restoreLine(ev)) }
	default:
		ro.Progress = func(ev restore.Event) {
			if ev.Kind != restore.EventProgress {
				fmt.Fprintln(out, eventLine(restoreLine(ev)))
			}
		}
	}
	res, err := r.Run(ctx, ro)
	if app.IsRestoreUsage(err) {
		return errs.AsUsage(err)
	}
	if err != nil {
		return err
	}
	if g.JSON {
		return printJSON(out, map[string]any{"kind": "result", "result": res})
	}
	counted := fmt.Sprintf(", %d files", res.Files)
	switch res.Kind {
	case "postgres":
		counted = "" // a database is restored whole; drills count its rows
	case "s3":
		counted = fmt.Sprintf(", %d objects", res.Files)
	}
	fmt.Fprintf(out, "restored snapshot %s of %s (%s, taken %s) into %s: %s%s\n", short(res.SnapshotID), res.Source, res.Kind,
		a.Clock.Format(res.SnapshotTime), res.Target, size(res.Bytes), counted)
	fmt.Fprintln(out, "next: check it (docs/runbook-restore.md), then return it to service")
	return nil
}

// restoreLine shows a restore's start as a note and its end as "restored".
func restoreLine(ev restore.Event) restore.Event {
	switch ev.Kind {
	case restore.EventStart:
		ev.Kind = progress.Check
	case restore.EventDone:
		ev.Message = "restored"
	}
	return ev
}
