package main

import (
	"context"
	"fmt"
	"io"

	"github.com/urfave/cli/v3"
)

type tokenShowOptions struct{}

func newTokenCommand(g *globalOptions) *cli.Command {
	return &cli.Command{
		Name:  "token",
		Usage: "the daemon API's bearer token",
		Commands: []*cli.Command{{
			Name:  "show",
			Usage: "print the API bearer token (made now if the state dir has none)",
			Description: `show prints the token the daemon's JSON API asks for in
"Authorization: Bearer <token>" (docs/api.md). It is kept in the state dir's
keys/api.token (0600), made by init, or by the first show or serve of a state
dir made before the daemon existed. Printing it is recorded in the audit log
(the token itself never is). To replace it, delete the file: the next show or
serve makes a new one.`,
			Action: func(ctx context.Context, cmd *cli.Command) error {
				return runTokenShow(ctx, tokenShowOptions{}, g, g.stdout)
			},
		}},
	}
}

func runTokenShow(ctx context.Context, _ tokenShowOptions, g *globalOptions, out io.Writer) error {
	a, err := g.open(ctx)
	if err != nil {
		return err
	}
	tok, _, err := a.APIToken(ctx)
	if err != nil {
		return err
	}
	defer tok.Wipe()
	if err := a.Record(ctx, "api.token.show", a.State.APIToken(), "ok", nil); err != nil {
		return err
	}
	if g.JSON {
		return printJSON(out, map[string]string{"token": string(tok.Reveal()), "file": a.State.APIToken()})
	}
	_, err = fmt.Fprintln(out, string(tok.Reveal()))
	return err
}
