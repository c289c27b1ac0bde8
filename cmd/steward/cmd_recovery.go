package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/urfave/cli/v3"

	"steward/recovery"
)

type recoveryKitOptions struct {
	To     string
	Rotate bool
}

func newRecoveryCommand(g *globalOptions) *cli.Command {
	var opts recoveryKitOptions
	return &cli.Command{
		Name:  "recovery",
		Usage: "keep the repositories readable if this host is lost",
		Commands: []*cli.Command{{
			Name:  "kit",
			Usage: "add an escrow key to every repository and write the recovery kit, encrypted to recovery.recipients, with a signed sheet",
			Description: `kit adds a new escrow key (restic key add, a random 256-bit password,
labelled ` + recovery.EscrowUser + `@<contract id>) to every configured repository, primary
and replica, and writes the recovery kit to FILE: a JSON document (schema
` + recovery.Schema + `) with the contract id, the restic version and, per
repository, its restic location, the S3 endpoint, region, bucket, prefix and
the access key the repository is used with, and the escrow key's id and
password, encrypted with age (armored) to every recipient in
recovery.recipients. Any one recipient's identity decrypts it (age -d); with
it and plain restic, every repository restores without Steward
(docs/runbook-restore.md).

The escrow passwords are never stored on this host: they exist only in the
kit. So every run makes new escrow keys, and older kits keep opening the
repositories until a kit is made with --rotate, which removes every other
escrow key from the repositories once the new kit is written; where this
host itself opens a repository with an escrow key (after ` + "`steward recover`" + `
with a kit's passwords), it first gets a key of its own, sealed in place of
the kit's password, so that the used kit opens nothing. Keep the kit
where recovery.kit_location says; destroy it after the contract's erasure
(which deletes every key, escrow keys included).

FILE must not exist: it is created with mode 0600 before any key is added,
and a kit is never overwritten. If a repository cannot be given a key, the
keys already added are removed and FILE too.

A signed recovery sheet (復旧キット管理票, PDF, Japanese and English) names
the repositories, their escrow key ids, the kit's SHA-256, the recipients'
public keys and where the kit is kept, never a password; it is filed in
<state_dir>/reports/ and checked with ` + "`steward verify`" + `. Making a kit, each key
added or removed, and the sheet are audited (ids and hashes only).

Exit 2 (nothing changed): no recovery.recipients, or FILE exists.

Example:
   steward recovery kit --to /media/officer/steward-kit-2026-12.age --rotate
   age -d -i officer.key -o kit.json /media/officer/steward-kit-2026-12.age`,
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "to", Usage: "write the kit to `FILE` (must not exist)", Destination: &opts.To},
				&cli.BoolFlag{Name: "rotate", Usage: "remove the older escrow keys once the new kit is written (older kits then open nothing)", Destination: &opts.Rotate},
			},
			Action: func(ctx context.Context, cmd *cli.Command) error {
				return runRecoveryKit(ctx, opts, g, g.stdout)
			},
		}},
	}
}

func runRecoveryKit(ctx context.Context, opts recoveryKitOptions, g *globalOptions, out io.Writer) error {
	if opts.To == "" {
		return usageErr(fmt.Errorf("--to: name a new file for the kit (e.g. --to /media/officer/steward-kit.age)"))
	}
	a, err := g.open(ctx)
	if err != nil {
		return err
	}
	res, err := a.RecoveryKit(ctx, recovery.KitOptions{To: opts.To, Rotate: opts.Rotate})
	if res == nil {
		return err
	}
	if g.JSON {
		if perr := printJSON(out, res); perr != nil {
			return perr
		}
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "REPOSITORY\tROLE\tESCROW KEY\tREMOVED")
	for _, r := range res.Kit.Repositories {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\n", r.Name, r.Role, short(r.KeyID), len(r.Removed))
	}
	tw.Flush()
	fmt.Fprintf(out, "kit %s\nSHA-256 %s\n", res.Kit.File, res.Kit.SHA256)
	if res.Sheet.Path != "" {
		fmt.Fprintf(out, "sheet %s\nSHA-256 %s\n", res.Sheet.Path, res.Sheet.SHA256)
	}
	return err
}
