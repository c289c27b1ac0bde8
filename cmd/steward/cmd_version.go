package main

import (
	"context"
	"fmt"
	"io"
	"runtime"

	"github.com/urfave/cli/v3"

	"steward/internal/resticx"
)

func newVersionCommand(g *globalOptions) *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print Steward's and restic's versions",
		Action: func(ctx context.Context, cmd *cli.Command) error {
			return runVersion(ctx, g, g.stdout)
		},
	}
}

func runVersion(ctx context.Context, g *globalOptions, out io.Writer) error {
	res := map[string]string{"steward": version, "go": runtime.Version()}
	configured := ""
	if cfg, err := g.loadConfig(); err == nil {
		configured = cfg.Restic.Path
	}
	if bin, v, err := resticx.Find(ctx, configured); err == nil {
		res["restic"], res["restic_path"] = v, bin
	} else {
		res["restic_error"] = err.Error()
	}
	if g.JSON {
		return printJSON(out, res)
	}
	fmt.Fprintf(out, "steward %s (%s)\n", res["steward"], res["go"])
	if res["restic"] != "" {
		fmt.Fprintf(out, "restic %s at %s\n", res["restic"], res["restic_path"])
	} else {
		fmt.Fprintf(out, "restic: %s\n", res["restic_error"])
	}
	return nil
}
