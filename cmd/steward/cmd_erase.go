package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v3"

	"steward/certs"
	"steward/erase"
	"steward/internal/auth"
)

type eraseOptions struct {
	As      string
	Confirm string
	Reason  string
	DryRun  bool
	Waive   string
}

func newEraseCommand(g *globalOptions) *cli.Command {
	var o eraseOptions
	as := func(what string) cli.Flag {
		return &cli.StringFlag{Name: "as", Usage: "operator account `NAME` of the person who " + what + " (their password is asked; recorded in the audit log)", Destination: &o.As}
	}
	return &cli.Command{
		Name:  "erase",
		Usage: "contract-end erasure of every copy of the contract's data (req 23, 26, 27)",
		Description: `At contract end, every copy of the contract's data and every special
account is erased, and a signed deletion certificate is issued. It goes in
steps, each audited:

   steward erase plan --as ALICE          count everything that holds contract data
   steward erase show PLAN                the plan, its approval and its journal
   steward erase approve PLAN --as BOB --confirm CONTRACT_ID
                                          a second person (one of erase.approvers)
   steward erase cancel PLAN --as NAME    stop a plan before it executes
   steward erase execute PLAN --as ALICE  after the cooling-off: erase, verify, certify
   steward erase verify PLAN              check every target again, independently

A plan changes nothing: it counts, now, every repository and replica (key
files, files and bytes, every object version), the sources, restic's cache, drill
scratch leftovers, temporary files, special accounts and the catalog's
manifests, and checks that the credential erase will use may delete each one.
Things that look related but are not configured are listed as "found, not
planned". Approval is refused for the planner, for anyone not in
erase.approvers, for a mistyped contract id, for a plan with a target that
could not be counted or may not be deleted, and for a plan without a hand-over
export unless the approver waives it (--waive-handover 'WHY', req 4).

Execute runs journaled steps — inventory (stops if reality grew beyond the
plan), freeze (backups, drills and restores are refused from then on),
crypto-erase (every restic key file and sealed repository password),
logical deletion (every object version, marker and upload, the buckets,
repositories, sources, databases, caches, scratch and temporary files),
credentials (special accounts), catalog purge (manifests), verify, master
key (destroyed: no sealed: value of the config opens afterwards; give the
admin credentials as env: or file: to run erase verify again later), and
the signed deletion certificate (データ消去証明書), whose evidence lists every
object version deleted, by key hash. Killed at any moment, it resumes
from the first unfinished step when run again; a certificate is issued once.
Exit code 3 when a target was not erased or not verified: the certificate
then reads "Erased with exceptions" and lists them.

--as NAME is an operator account (steward user): its password is asked
(without echo on a terminal, or one line from standard input), and its
role must allow the step: plan, execute and cancel for operator or admin,
approve and cancel for approver or admin. While no operator account exists,
--as is taken unchecked with a warning, and the audit log records the step
as "unauthenticated:NAME".`,
		Commands: []*cli.Command{{
			Name:  "plan",
			Usage: "inventory everything to erase and store it as a plan (changes nothing)",
			Flags: []cli.Flag{as("makes the plan")},
			Action: func(ctx context.Context, cmd *cli.Command) error {
				return runErasePlan(ctx, o, g, g.stdout)
			},
		}, {
			Name:      "approve",
			Usage:     "approve a plan as the second person (execute may start after erase.cooling_off)",
			ArgsUsage: "PLAN",
			Flags: []cli.Flag{as("approves"),
				&cli.StringFlag{Name: "confirm", Usage: "the contract id, typed out (`CONTRACT_ID`)", Destination: &o.Confirm},
				&cli.StringFlag{Name: "waive-handover", Usage: "erase without a hand-over export, for the reason `WHY` (typed out, audited; req 4)", Destination: &o.Waive}},
			Action: func(ctx context.Context, cmd *cli.Command) error {
				if err := requireArgs(cmd, 1, "one plan id"); err != nil {
					return err
				}
				return runEraseApprove(ctx, cmd.Args().First(), o, g, g.stdout)
			},
		}, {
			Name:      "cancel",
			Usage:     "stop a plan that has not started executing",
			ArgsUsage: "PLAN",
			Flags: []cli.Flag{as("cancels"),
				&cli.StringFlag{Name: "reason", Usage: "why (`TEXT`, recorded with the plan)", Destination: &o.Reason}},
			Action: func(ctx context.Context, cmd *cli.Command) error {
				if err := requireArgs(cmd, 1, "one plan id"); err != nil {
					return err
				}
				return runEraseCancel(ctx, cmd.Args().First(), o, g, g.stdout)
			},
		}, {
			Name:      "execute",
			Usage:     "erase everything the approved plan lists, verify, and issue the signed deletion certificate",
			ArgsUsage: "PLAN",
			Flags: []cli.Flag{as("executes"),
				&cli.BoolFlag{Name: "dry-run", Usage: "count again and say whether reality grew beyond the plan; change nothing", Destination: &o.DryRun}},
			Action: func(ctx context.Context, cmd *cli.Command) error {
				if err := requireArgs(cmd, 1, "one plan id"); err != nil {
					return err
				}
				return runEraseExecute(ctx, cmd.Args().First(), o, g, g.stdout)
			},
		}, {
			Name:      "verify",
			Usage:     "check every target of a plan again, with fresh connections (exit 3 if any is not gone)",
			ArgsUsage: "PLAN",
			Action: func(ctx context.Context, cmd *cli.Command) error {
				if err := requireArgs(cmd, 1, "one plan id"); err != nil {
					return err
				}
				return runEraseVerify(ctx, cmd.Args().First(), g, g.stdout)
			},
		}, {
			Name:      "show",
			Usage:     "show a plan: its inventory, approval and journal",
			ArgsUsage: "PLAN",
			Action: func(ctx context.Context, cmd *cli.Command) error {
				if err := requireArgs(cmd, 1, "one plan id"); err != nil {
					return err
				}
				return runEraseShow(ctx, cmd.Args().First(), g, g.stdout)
			},
		}, {
			Name:   "list",
			Usage:  "list erase plans, newest first",
			Action: func(ctx context.Context, cmd *cli.Command) error { return runEraseList(ctx, g, g.stdout) },
		}},
	}
}

func newEraser(ctx context.Context, g *globalOptions) (*erase.Eraser, error) {
	a, err := g.open(ctx)
	if err != nil {
		return nil, err
	}
	return a.Eraser(ctx)
}

// newEraserAs logs the --as operator in for an erase step (their
// password is asked; their role must allow action) and returns a context
// whose audit records name them. While no operator account exists, --as
// is taken unchecked, with a warning, and the records name it
// "unauthenticated:NAME" (docs/operators.md).
func newEraserAs(ctx context.Context, g *globalOptions, as string, action auth.Action, command string) (context.Context, *erase.Eraser, error) {
	a, err := g.open(ctx)
	if err != nil {
		return ctx, nil, err
	}
	id, err := a.LoginCLI(ctx, as, action, command, g.passwords().loginPassword)
	if err != nil {
		return ctx, nil, err
	}
	if !id.Authenticated {
		fmt.Fprintf(g.stderr, "warning: no operator account exists, so --as %s was not checked and is recorded as unauthenticated; add accounts with `steward user add` (docs/operators.md)\n", as)
	}
	ctx = id.Context(ctx)
	e, err := a.Eraser(ctx)
	return ctx, e, err
}

func runErasePlan(ctx context.Context, o eraseOptions, g *globalOptions, out io.Writer) error {
	ctx, e, err := newEraserAs(ctx, g, o.As, auth.ActionPlanErase, "erase plan")
	if err != nil {
		return err
	}
	p, err := e.MakePlan(ctx, o.As)
	if err != nil {
		return err
	}
	if g.JSON {
		return printJSON(out, p)
	}
	printPlan(out, p)
	if bad := p.Uncounted(); len(bad) > 0 {
		fmt.Fprintf(out, "\n%d target(s) could not be counted: this plan cannot be approved. Fix what they say and plan again.\n", len(bad))
		return nil
	}
	fmt.Fprintf(out, "\nNext: a second person (one of erase.approvers) reviews it and runs\n   steward erase approve %s --as NAME --confirm %s\n", p.ID, p.Contract.ID)
	return nil
}

func runEraseApprove(ctx context.Context, id string, o eraseOptions, g *globalOptions, out io.Writer) error {
	ctx, e, err := newEraserAs(ctx, g, o.As, auth.ActionApproveErase, "erase approve")
	if err != nil {
		return err
	}
	p, err := e.Approve(ctx, id, o.As, o.Confirm, o.Waive)
	if err != nil {
		return err
	}
	if g.JSON {
		return printJSON(out, p)
	}
	fmt.Fprintf(out, "plan %s approved by %s (planned by %s, inventory SHA-256 %s)\nexecute may start at %s (erase.cooling_off); `steward erase cancel %s` stops it until then\n",
		p.ID, p.Approval.By, p.Planner, p.Hash, p.Approval.CoolingOffUntil, p.ID)
	return nil
}

func runEraseCancel(ctx context.Context, id string, o eraseOptions, g *globalOptions, out io.Writer) error {
	ctx, e, err := newEraserAs(ctx, g, o.As, auth.ActionCancelErase, "erase cancel")
	if err != nil {
		return err
	}
	p, err := e.Cancel(ctx, id, o.As, o.Reason)
	if err != nil {
		return err
	}
	if g.JSON {
		return printJSON(out, p)
	}
	fmt.Fprintf(out, "plan %s cancelled by %s: it will never execute\n", p.ID, p.Cancelled.By)
	return nil
}

func runEraseExecute(ctx context.Context, id string, o eraseOptions, g *globalOptions, out io.Writer) error {
	ctx, e, err := newEraserAs(ctx, g, o.As, auth.ActionExecuteErase, "erase execute")
	if err != nil {
		return err
	}
	eo := erase.ExecuteOptions{As: o.As, DryRun: o.DryRun}
	if g.JSON {
		eo.Progress = func(ev erase.Event) { _ = printJSON(out, ev) }
	} else {
		eo.Progress = func(ev erase.Event) {
			switch {
			case ev.Target != "":
				line := fmt.Sprintf("%s  %-18s %s: %s", ev.Time, ev.Step, ev.Target, ev.Result)
				if ev.Detail != "" {
					line += " (" + ev.Detail + ")"
				}
				fmt.Fprintln(out, line)
			case ev.Result != "":
				fmt.Fprintf(out, "%s  %-18s %s\n", ev.Time, ev.Step, strings.ToUpper(ev.Result))
			}
		}
	}
	res, err := e.Execute(ctx, id, eo)
	if res == nil {
		return err
	}
	if g.JSON {
		if perr := printJSON(out, res); perr != nil {
			return perr
		}
		return err
	}
	if o.DryRun {
		fmt.Fprintf(out, "dry run of plan %s: nothing was changed\n", id)
		if len(res.Grew) > 0 {
			fmt.Fprintf(out, "reality grew beyond the plan, so execute would stop at its first step:\n  %s\nmake a new plan\n", strings.Join(res.Grew, "\n  "))
		} else {
			fmt.Fprintf(out, "nothing beyond the plan: execute would erase its %d targets\n", len(res.Plan.Targets))
		}
		return err
	}
	if c := res.Certificate; c != nil {
		fmt.Fprintf(out, "\ndeletion certificate %s (%s)\n  %s\n  SHA-256 %s\ncheck it with `steward verify %s` and in a PDF reader\n", c.ID, c.Status, c.Path, c.SHA256, c.Path)
	}
	return err
}

func runEraseVerify(ctx context.Context, id string, g *globalOptions, out io.Writer) error {
	e, err := newEraser(ctx, g)
	if err != nil {
		return err
	}
	res, err := e.VerifyPlan(ctx, id)
	if err != nil {
		return err
	}
	bad := 0
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	if !g.JSON {
		fmt.Fprintln(tw, "TARGET\tRESULT\tHOW")
	}
	for _, r := range res {
		if r.Result != erase.Verified {
			bad++
		}
		if g.JSON {
			if err := printJSON(out, r); err != nil {
				return err
			}
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", r.ID, r.Result, r.Detail)
	}
	tw.Flush()
	if bad > 0 {
		return fmt.Errorf("%w: %d of %d targets of plan %s", erase.ErrNotVerified, bad, len(res), id)
	}
	return nil
}

func runEraseShow(ctx context.Context, id string, g *globalOptions, out io.Writer) error {
	e, err := newEraser(ctx, g)
	if err != nil {
		return err
	}
	o, err := e.Outcome(ctx, id)
	if err != nil {
		return err
	}
	if g.JSON {
		return printJSON(out, o)
	}
	printPlan(out, o.Plan)
	if len(o.Journal) > 0 {
		fmt.Fprintln(out)
		tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "STEP\tSTARTED\tFINISHED\tRESULT")
		for _, r := range o.Journal {
			result := r.Result
			if result == "" {
				result = "unfinished"
			}
			fmt.Fprintf(tw, "%d %s\t%s\t%s\t%s\n", r.Step, r.Name, r.Started, r.Finished, result)
		}
		tw.Flush()
	}
	if c := o.Certificate; c != nil {
		fmt.Fprintf(out, "\ndeletion certificate %s (%s): %s, SHA-256 %s\n", c.ID, c.Status, c.Path, c.SHA256)
	}
	for _, x := range o.Exceptions {
		fmt.Fprintf(out, "exception: %s\n", x)
	}
	return nil
}

func runEraseList(ctx context.Context, g *globalOptions, out io.Writer) error {
	e, err := newEraser(ctx, g)
	if err != nil {
		return err
	}
	plans, err := e.Plans(ctx)
	if err != nil {
		return err
	}
	if g.JSON {
		for _, p := range plans {
			if err := printJSON(out, p); err != nil {
				return err
			}
		}
		return nil
	}
	if len(plans) == 0 {
		fmt.Fprintln(out, "no erase plans (make one with `steward erase plan --as NAME`)")
		return nil
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PLAN\tCREATED\tSTATUS\tPLANNER\tAPPROVER\tTARGETS")
	for _, p := range plans {
		approver := "-"
		if p.Approval != nil {
			approver = p.Approval.By
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\n", p.ID, p.Created, p.Status, p.Planner, approver, len(p.Targets))
	}
	return tw.Flush()
}

func printPlan(out io.Writer, p *erase.Plan) {
	fmt.Fprintf(out, "erase plan %s — %s\n", p.ID, strings.ToUpper(p.Status))
	fmt.Fprintf(out, "  contract:   %s (%s), end date %s\n", p.Contract.ID, p.Contract.Customer, p.Contract.EndDate)
	fmt.Fprintf(out, "  planned:    %s by %s\n", p.Created, p.Planner)
	if p.Approval != nil {
		fmt.Fprintf(out, "  approved:   %s by %s; execute from %s\n", p.Approval.Time, p.Approval.By, p.Approval.CoolingOffUntil)
		if p.Approval.HandoverWaived != "" {
			fmt.Fprintf(out, "  hand-over waived by %s: %s\n", p.Approval.By, p.Approval.HandoverWaived)
		}
	}
	if p.Cancelled != nil {
		fmt.Fprintf(out, "  cancelled:  %s by %s %s\n", p.Cancelled.Time, p.Cancelled.By, p.Cancelled.Reason)
	}
	handover := p.Handover
	if handover == "" {
		handover = "none recorded (run `steward handover export` first if the data must be handed over)"
	}
	fmt.Fprintf(out, "  hand-over:  %s\n", handover)
	fmt.Fprintf(out, "  inventory:  SHA-256 %s\n\n", p.Hash)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TARGET\tKIND\tROLE\tLOCATION\tCOUNTED NOW\tDELETE ALLOWED")
	for _, t := range p.Targets {
		counted := countsLine(t.Before)
		switch {
		case t.Error != "":
			counted = "NOT COUNTED: " + t.Error
		case t.Absent:
			counted = "absent"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Kind, t.Role, t.Location, counted, t.Access)
	}
	tw.Flush()
	if len(p.Found) > 0 {
		fmt.Fprintf(out, "\nFound, not planned (decide about these by hand; erase does not touch them):\n")
		for _, f := range p.Found {
			fmt.Fprintf(out, "  %s %s at %s: %s\n", f.Kind, f.Name, f.Location, f.Why)
		}
	}
}

func countsLine(c certs.Counts) string {
	var parts []string
	add := func(n int64, unit string) {
		switch {
		case n == 1:
			parts = append(parts, "1 "+unit)
		case n > 1:
			parts = append(parts, fmt.Sprintf("%d %ss", n, unit))
		}
	}
	add(c.Files, "file")
	add(c.Objects, "object")
	add(c.Versions, "version")
	add(c.DeleteMarkers, "delete marker")
	add(c.UnfinishedUploads, "unfinished upload")
	add(c.Tables, "table")
	if c.Bytes > 0 {
		parts = append(parts, size(c.Bytes))
	}
	if len(parts) == 0 {
		return "empty"
	}
	return strings.Join(parts, ", ")
}
