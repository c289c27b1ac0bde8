package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v3"

	"steward/backup"
	"steward/internal/errs"
	"steward/restore"
)

type restoreOptions struct {
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
		Description: `restore brings back one source of a job from its primary repository:
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

// checkFlags checks the target flags before any work starts.
func (o restoreOptions) checkFlags() error {
	n := 0
	for _, s := range []string{o.To, o.ToDatabase, o.ToBucket} {
		if s != "" {
			n++
		}
	}
	switch {
	case o.IntoSource && n > 0:
		return errs.Usage("--into-source restores into the source itself: give no --to, --to-database or --to-bucket")
	case !o.IntoSource && n != 1:
		return errs.Usage("give exactly one of --to DIR, --to-database NAME or --to-bucket NAME (or --into-source)")
	case o.Confirm != "" && !o.IntoSource:
		return errs.Usage("--confirm is only for --into-source")
	}
	return nil
}

func runRestore(ctx context.Context, opts restoreOptions, g *globalOptions, out io.Writer) error {
	if err := opts.checkFlags(); err != nil {
		return err
	}
	eng, e, err := newEngine(ctx, g)
	if err != nil {
		return err
	}
	r := restore.New(restore.Deps{Engine: eng, Audit: e.audit, Clock: e.clock, Log: e.log})
	job, err := eng.Job(opts.Job)
	if err != nil {
		return errs.AsUsage(err)
	}
	srcName := opts.Source
	if srcName == "" && len(job.Sources) == 1 {
		srcName = job.Sources[0]
	}
	src, ok := e.cfg.Source(srcName)
	if !ok {
		return errs.Usage("--source %q: job %q has sources %s", opts.Source, job.Name, strings.Join(job.Sources, ", "))
	}
	ro := restore.Options{Job: job.Name, Source: src.Name, Snapshot: opts.Snapshot, Force: opts.Force, IntoSource: opts.IntoSource, Confirm: opts.Confirm}
	switch {
	case opts.To != "":
		ro.To.Dir = absPath(opts.To)
	case opts.ToDatabase != "":
		if src.Postgres == nil {
			return errs.Usage("--to-database: source %q is not a PostgreSQL database", src.Name)
		}
		live, err := r.SourceTarget(src)
		if err != nil {
			return err
		}
		db := *src.Postgres
		db.Database = opts.ToDatabase
		ro.To = restore.Target{Postgres: &db, PostgresPassword: live.PostgresPassword, PostgresAdminDB: src.Postgres.Database}
	case opts.ToBucket != "":
		if src.S3 == nil {
			return errs.Usage("--to-bucket: source %q is not a bucket", src.Name)
		}
		live, err := r.SourceTarget(src)
		if err != nil {
			return err
		}
		t := *live.Bucket
		t.Bucket, t.Prefix = opts.ToBucket, ""
		ro.To.Bucket = &t
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
		ro.Progress = func(ev restore.Event) { b.event(restoreEvent(ev)) }
	default:
		ro.Progress = func(ev restore.Event) {
			if ev.Kind != restore.EventProgress {
				fmt.Fprintln(out, eventLine(restoreEvent(ev)))
			}
		}
	}
	res, err := r.Run(ctx, ro)
	if err != nil {
		if errors.Is(err, restore.ErrNotEmpty) || errors.Is(err, restore.ErrIntoSource) || errors.Is(err, restore.ErrConfirmation) ||
			errors.Is(err, restore.ErrBadTarget) || errors.Is(err, restore.ErrNoSnapshot) || errors.Is(err, backup.ErrNoJob) {
			return errs.AsUsage(err)
		}
		return err
	}
	if g.JSON {
		return printJSON(out, map[string]any{"kind": "result", "result": res})
	}
	fmt.Fprintf(out, "restored snapshot %s of %s (%s, taken %s) into %s: %s, %d files\n", short(res.SnapshotID), res.Source, res.Kind,
		e.clock.Format(res.SnapshotTime), res.Target, size(res.Bytes), res.Files)
	fmt.Fprintln(out, "next: check it (docs/runbook-restore.md), then return it to service")
	return nil
}

// restoreEvent draws restore progress with backup's bars and lines.
func restoreEvent(ev restore.Event) backup.Event {
	kind := ev.Kind
	switch ev.Kind {
	case restore.EventStart:
		kind = backup.EventCheck
	case restore.EventDone:
		kind = backup.EventDone
	}
	msg := ev.Message
	if ev.Kind == restore.EventDone {
		msg = "restored"
	}
	return backup.Event{Time: ev.Time, Kind: kind, Source: ev.Source, SnapshotID: ev.SnapshotID, BytesDone: ev.BytesDone, BytesTotal: ev.BytesTotal,
		FilesDone: ev.FilesDone, FilesTotal: ev.FilesTotal, Rate: ev.Rate, ETA: ev.ETA, Message: msg, Error: ev.Error}
}
