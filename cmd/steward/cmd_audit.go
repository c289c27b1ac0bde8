package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v3"

	"steward/internal/audit"
	"steward/internal/errs"
)

type auditVerifyOptions struct {
	// Heads are --head SEQ:HASH values: audit-log heads read from
	// documents kept outside the state dir.
	Heads []string
}

type auditExportOptions struct {
	Since  string
	Until  string
	Output string
}

func newAuditCommand(g *globalOptions) *cli.Command {
	var ex auditExportOptions
	var vo auditVerifyOptions
	return &cli.Command{
		Name:  "audit",
		Usage: "verify and export the tamper-evident audit log",
		Commands: []*cli.Command{
			{
				Name:  "verify",
				Usage: "check the hash chain in the catalog and the mirror, and that the log still holds its anchors",
				Description: `verify recomputes every record's hash, checks that each record points at
the one before it, and that the catalog and the JSON-lines mirror
(<state_dir>/audit.jsonl) hold the same records. It names the first bad
record.

A chain verifies even when its last records were removed from both, or when
it was rewritten and every hash recomputed; so verify also checks that the
log still holds its anchors:
  - the highest audit-log head that a signed report Steward issued carries
    (every report records the head it saw; the catalog keeps the highest);
  - every signed checkpoint in <state_dir>/audit-checkpoints/, outside the
    catalog: each checkpoint's signature (by the signing key) is checked,
    and the log must still hold its (seq, hash).
Both live in the state dir: whoever can rewrite the catalog and remove the
checkpoints can remove the tail with them. So give verify, with --head, the
head printed on a document kept elsewhere (a report's or certificate's
"audit head: seq N HASH", as steward verify prints it; a recovery sheet's):
the log must still hold it.
It names each missing range and rewritten record, and the anchor that shows
it. When the log verifies, it writes a new signed checkpoint of its head
(so do signed reports).
Exit 0 when the log verifies, 3 when it does not.`,
				Flags: []cli.Flag{
					&cli.StringSliceFlag{Name: "head", Usage: "the log must hold this head, `SEQ:HASH` (from a document kept outside the state dir; repeatable)", Destination: &vo.Heads},
				},
				Action: func(ctx context.Context, cmd *cli.Command) error {
					return runAuditVerify(ctx, vo, g, g.stdout)
				},
			},
			{
				Name:  "export",
				Usage: "write audit records as JSON lines",
				Description: `export writes the records whose time is in [--since, --until) as JSON
lines, to stdout or --output. Times are RFC 3339 or dates (YYYY-MM-DD,
midnight in the contract's zone). The export itself is audited.`,
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "since", Usage: "first `TIME` to include (RFC 3339 or YYYY-MM-DD)", Destination: &ex.Since},
					&cli.StringFlag{Name: "until", Usage: "`TIME` to stop before (RFC 3339 or YYYY-MM-DD)", Destination: &ex.Until},
					&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "write to `FILE` (0600) instead of stdout", Destination: &ex.Output},
				},
				Action: func(ctx context.Context, cmd *cli.Command) error {
					return runAuditExport(ctx, ex, g, g.stdout)
				},
			},
		},
	}
}

func runAuditVerify(ctx context.Context, opts auditVerifyOptions, g *globalOptions, out io.Writer) error {
	heads, err := parseHeads(opts.Heads)
	if err != nil {
		return err
	}
	a, err := g.open(ctx)
	if err != nil {
		return err
	}
	rep, verr := a.VerifyAudit(ctx, heads...)
	if rep.Problem == nil && verr != nil {
		return verr
	}
	if g.JSON {
		if err := printJSON(out, rep); err != nil {
			return err
		}
		return verr
	}
	for _, w := range rep.Warnings {
		fmt.Fprintf(out, "warning: %s\n", w)
	}
	if rep.Problem != nil {
		fmt.Fprintf(out, "audit log does NOT verify: %d problem(s)\n", len(rep.Problems))
		for _, p := range rep.Problems {
			switch p.Where {
			case "catalog", "mirror":
				fmt.Fprintf(out, "- first bad record is seq %d in the %s: %s\n", p.Seq, p.Where, p.Reason)
			default:
				fmt.Fprintf(out, "- %s: %s\n", p.Where, p.Reason)
			}
		}
		return verr
	}
	fmt.Fprintf(out, "audit log OK: %d records, head seq %d, hash %s; %d anchor(s) held\n", rep.Records, rep.HeadSeq, rep.HeadHash, rep.Anchors)
	if rep.Checkpoint != "" {
		fmt.Fprintf(out, "signed checkpoint: %s\n", rep.Checkpoint)
	}
	return verr
}

// parseHeads reads --head SEQ:HASH values.
func parseHeads(vals []string) ([]audit.Anchor, error) {
	var out []audit.Anchor
	for _, v := range vals {
		seqText, hash, _ := strings.Cut(strings.TrimSpace(v), ":")
		seq, err := strconv.ParseInt(seqText, 10, 64)
		if b, herr := hex.DecodeString(hash); err != nil || seq < 1 || herr != nil || len(b) != sha256.Size {
			return nil, errs.Usage("--head %q: write SEQ:HASH, the audit head a document carries, e.g. --head 48213:9f2c…e4 (a positive seq and the 64 hex digits of its hash)", v)
		}
		out = append(out, audit.Anchor{Seq: seq, Hash: strings.ToLower(hash), Kind: audit.KindGivenHead, Source: "--head " + v})
	}
	return out, nil
}

func runAuditExport(ctx context.Context, opts auditExportOptions, g *globalOptions, out io.Writer) error {
	e, err := g.open(ctx)
	if err != nil {
		return err
	}
	var since, until time.Time
	if opts.Since != "" {
		if since, err = e.Clock.Parse(opts.Since); err != nil {
			return errs.Usage("--since: %v", err)
		}
	}
	if opts.Until != "" {
		if until, err = e.Clock.Parse(opts.Until); err != nil {
			return errs.Usage("--until: %v", err)
		}
	}
	if !since.IsZero() && !until.IsZero() && !until.After(since) {
		return errs.Usage("--until (%s) must be after --since (%s)", opts.Until, opts.Since)
	}
	w := out
	var f *os.File
	if opts.Output != "" {
		f, err = os.OpenFile(opts.Output, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return errs.Usage("--output: %v (export never overwrites a file)", err)
		}
		defer f.Close()
		w = f
	}
	n, err := e.ExportAudit(ctx, w, since, until, opts.Since, opts.Until)
	if err != nil {
		return err
	}
	if f != nil {
		fmt.Fprintf(g.stderr, "exported %d records to %s\n", n, opts.Output)
	}
	return nil
}
