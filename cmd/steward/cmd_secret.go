package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"

	"github.com/urfave/cli/v3"
	"golang.org/x/term"

	"steward/internal/audit"
	"steward/internal/config"
	"steward/internal/errs"
	"steward/internal/keys"
)

type secretSealOptions struct{}

func newSecretCommand(g *globalOptions) *cli.Command {
	return &cli.Command{
		Name:  "secret",
		Usage: "seal secrets for the config with the master key",
		Commands: []*cli.Command{{
			Name:  "seal",
			Usage: "read a secret from stdin and print it sealed, for a config secret field",
			Description: `seal reads one secret from standard input (typed without echo on a
terminal, or piped: printf %s "$SECRET" | steward secret seal) and prints
a "sealed:v1:…" value to paste into a secret field of the config (for
example repositories[0].s3.secret_key). Only this state dir's master key can
open it, and destroying that key at contract end makes it unreadable.
The secret is never taken from the command line.`,
			Action: func(ctx context.Context, cmd *cli.Command) error {
				return runSecretSeal(ctx, secretSealOptions{}, g, g.stdout)
			},
		}},
	}
}

func runSecretSeal(ctx context.Context, _ secretSealOptions, g *globalOptions, out io.Writer) error {
	e, err := g.open(ctx)
	if err != nil {
		return err
	}
	var secret []byte
	if f, ok := g.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(g.stderr, "secret (not echoed): ")
		secret, err = term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(g.stderr)
	} else {
		secret, err = io.ReadAll(bufio.NewReader(io.LimitReader(g.stdin, 1<<20)))
	}
	if err != nil {
		return fmt.Errorf("read secret: %w", err)
	}
	defer keys.Secret(secret).Wipe()
	secret = bytes.TrimRight(secret, "\r\n")
	if len(secret) == 0 {
		return errs.Usage("no secret on standard input: pipe it in or type it at the prompt")
	}
	sealed, err := e.Keys.Seal(config.SealedPurpose, secret)
	if err != nil {
		return err
	}
	if err := e.Record(ctx, "secret.seal", "config-secret", audit.ResultOK, nil); err != nil {
		return err
	}
	if g.JSON {
		return printJSON(out, map[string]string{"sealed": sealed})
	}
	fmt.Fprintln(out, sealed)
	return nil
}
