package main

import (
	"context"
	"io"
	"time"

	"github.com/urfave/cli/v3"

	"steward/app"
	"steward/internal/errs"
)

type serveOptions struct {
	StopTimeout time.Duration
	Listen      string
	Once        bool
}

func newServeCommand(g *globalOptions) *cli.Command {
	var opts serveOptions
	return &cli.Command{
		Name:  "serve",
		Usage: "run the daemon: scheduled backups (with retention), drills and repository checks",
		Description: `serve runs, in the contract's time zone (contract.time_zone), each job's
backup on jobs[].schedule (retention is part of every backup run), one
drill per drills.schedule — rotating over every source and over the
primary and every replica — and a check of every repository on
checks.schedule (drills.schedule when that is not set). Each run is the
same as the CLI's (` + "`backup run`, `drill run --repository R`, `repo check`" + `)
and is recorded the same way. A job never overlaps itself; a run missed
while the daemon was down runs once at start. Once erasure has started
(the contract is frozen) nothing is scheduled.

SIGINT or SIGTERM cancels running work (restic is interrupted and its lock
handled on the next run) and waits for it at most --stop-timeout; then
serve exits 0.

--once runs what is due at start (a job never run, a run missed while the
daemon was down) one after the other, then stops: for a first run, or for
running Steward from cron or a systemd timer instead of as a daemon. It
exits non-zero (the code --help lists for the failure) when one of them failed.

It also serves HTTP on server.listen (--listen overrides it; loopback by
default, 127.0.0.1:8420; HTTPS with server.tls_cert/tls_key): /healthz,
/readyz, /metrics (Prometheus) and the JSON API under /api/v1/, which needs
the bearer token in <state_dir>/keys/api.token (steward token show), and
the web console under /ui/ (Japanese/English; operators log in with the
accounts of steward user add; see docs/console.md). A
failed backup, drill or check sends an alert through notify (webhook signed
with HMAC-SHA256, e-mail), and each backup pings notify.ping_url at start,
success and failure. See docs/api.md. Logs go to stderr (--log-format json for collectors); the
default log level of serve is info. See docs/daemon.md.`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "listen", Usage: "serve HTTP on `HOST:PORT` instead of server.listen (port 0: a free one)", Destination: &opts.Listen},
			&cli.BoolFlag{Name: "once", Usage: "run what is due now (never-run and missed backups, drill, check), then stop; non-zero exit if one failed", Destination: &opts.Once},
			&cli.DurationFlag{Name: "stop-timeout", Value: 30 * time.Second, Usage: "how long running work may take to stop on SIGTERM", Destination: &opts.StopTimeout},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if !cmd.IsSet("log-level") {
				g.LogLevel = "info"
			}
			return runServe(ctx, opts, g, g.stdout)
		},
	}
}

func runServe(ctx context.Context, opts serveOptions, g *globalOptions, out io.Writer) error {
	if opts.StopTimeout <= 0 {
		return errs.Usage("--stop-timeout %s: give a positive duration, e.g. 30s", opts.StopTimeout)
	}
	a, err := g.open(ctx)
	if err != nil {
		return err
	}
	return a.Serve(ctx, app.ServeOptions{StopTimeout: opts.StopTimeout, Out: out, Listen: opts.Listen, Once: opts.Once, App: g.appOptions()})
}
