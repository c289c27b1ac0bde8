package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/urfave/cli/v3"

	"steward/internal/progress"
)

type handoverExportOptions struct {
	To  string
	Job string
}

func newHandoverCommand(g *globalOptions) *cli.Command {
	var opts handoverExportOptions
	return &cli.Command{
		Name:  "handover",
		Usage: "hand the contract's data over to the successor (req 4)",
		Commands: []*cli.Command{{
			Name:  "export",
			Usage: "export the latest snapshot of every source in portable formats, with a manifest and a signed receipt",
			Description: `export writes, for the latest snapshot of every source of every job (or of
--job J), files the successor loads without Steward or restic:

   DIR/<job>/<source>/<source>.tar      a directory source, as a tar archive
                                         (names relative to the backed-up directory)
   DIR/<job>/<source>/<source>.pgdump   a PostgreSQL source, pg_dump custom format
                                         (pg_restore -d NEWDB <file>)
   DIR/<job>/<source>/<source>.sql      the same as plain SQL, without owners and
                                         privileges (psql -d NEWDB -f <file>)
   DIR/<job>/<source>/<key>             a bucket source, one file per object, its
                                         key as the path
   DIR/handover-manifest.json           every file with its size and SHA-256, and
                                         each source's snapshot id and time
   DIR/handover-manifest.json.sha256    the manifest's SHA-256 (sha256sum -c)
   DIR/handover-<id>-….pdf              the signed receipt (a copy)

DIR must be new or empty; anything else is refused before a byte is written.
Files are created 0600 and directories 0700. Data is streamed from the
repository (restic dump) and hashed while it is written. An export that fails
removes what it wrote.

The signed receipt (データ引渡書, Japanese and English) names each source with
its snapshot, counts and bytes, the manifest's SHA-256, the time and who ran
the export; it is filed in <state_dir>/reports/ and checked with
` + "`steward verify`" + `. The export is recorded in the catalog, where the erase
plan shows the last one, and in the audit log (ids and hashes only).

Each source's latest snapshot is read from its job's primary repository:
run ` + "`steward backup run`" + ` first for an up-to-date hand-over. Unlike backups,
the export still runs after the contract's end date. The manifest lists the
data files; it cannot list the receipt, which carries the manifest's hash.

Progress goes to stderr; the result to stdout (one JSON line with --json).
Exit 2 (nothing written): --to is not new or empty, --job is unknown, or a
source has no snapshot. Exit 1: the export failed and what it wrote was
removed.

Example:
   steward handover export --to /media/handover-2027-03
   cd /media/handover-2027-03 && sha256sum -c handover-manifest.json.sha256`,
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "to", Usage: "export into `DIR` (new or empty)", Destination: &opts.To},
				&cli.StringFlag{Name: "job", Usage: "export only job `NAME` (default: every job)", Destination: &opts.Job},
			},
			Action: func(ctx context.Context, cmd *cli.Command) error {
				return runHandoverExport(ctx, opts, g, g.stdout)
			},
		}},
	}
}

func runHandoverExport(ctx context.Context, opts handoverExportOptions, g *globalOptions, out io.Writer) error {
	if opts.To == "" {
		return usageErr(fmt.Errorf("--to: name a new or empty directory to export into (e.g. --to /media/handover)"))
	}
	a, err := g.open(ctx)
	if err != nil {
		return err
	}
	var prog progress.Func
	switch {
	case g.JSON:
		// Scripts read the result from stdout; progress is for people.
	case isTerminal(g.stderr):
		b := &bars{w: g.stderr}
		prog = func(ev progress.Event) { b.event(handoverLine(ev)) }
	default:
		prog = func(ev progress.Event) {
			if ev.Kind != progress.Progress {
				fmt.Fprintln(g.stderr, eventLine(handoverLine(ev)))
			}
		}
	}
	res, err := a.HandoverExport(ctx, opts.To, opts.Job, prog)
	if err != nil {
		return err
	}
	if g.JSON {
		return printJSON(out, res)
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "JOB\tSOURCE\tKIND\tSNAPSHOT\tTAKEN\tITEMS\tFILES\tWRITTEN")
	for _, s := range res.Sources {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\n", s.Job, s.Source, s.Kind, short(s.SnapshotID), a.Clock.Format(s.SnapshotTime), s.Items, s.Files, size(s.Bytes))
	}
	tw.Flush()
	fmt.Fprintf(out, "hand-over %s: %s, %s in %s\n", res.ID, files(res.Files), size(res.Bytes), res.Dir)
	fmt.Fprintf(out, "manifest %s\nSHA-256 %s\n", res.ManifestPath, res.ManifestSHA256)
	fmt.Fprintf(out, "receipt %s\nSHA-256 %s\n", res.ReceiptPath, res.ReceiptSHA256)
	return nil
}

// handoverLine shows an export's start as a note and its end as
// "exported".
func handoverLine(ev progress.Event) progress.Event {
	switch ev.Kind {
	case progress.Start:
		ev.Kind = progress.Check
	case progress.Done:
		ev.Kind = progress.Check
		ev.Message = fmt.Sprintf("exported snapshot %s (%s, %s)", short(ev.SnapshotID), files(ev.FilesDone), size(ev.BytesDone))
	}
	return ev
}

func files(n int64) string {
	if n == 1 {
		return "1 file"
	}
	return fmt.Sprintf("%d files", n)
}
