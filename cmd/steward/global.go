package main

import (
	"context"
	"encoding/json"
	"io"

	"github.com/urfave/cli/v3"

	"steward/app"
	"steward/internal/clock"
	"steward/internal/config"
	"steward/internal/errs"
)

// systemClockSync is how commands run through run() ask whether the clock
// is synchronised. The tests replace it: the test machine's clock is their
// environment, not what they check (TestStatusExitCodes checks both).
var systemClockSync = clock.CheckSync

// globalOptions are the flags every command shares, plus the streams.
type globalOptions struct {
	ConfigPath string
	StateDir   string
	JSON       bool
	LogLevel   string
	LogFormat  string

	stdin          io.Reader
	stdout, stderr io.Writer
	// baseClock is the wall clock; tests inject a fake.
	baseClock clock.Clock
	// clockSync answers whether the clock is synchronised (nil: ask the
	// system); tests inject an answer.
	clockSync func(context.Context) clock.SyncStatus

	closers []func() error
	// pw reads operator passwords (see passwords).
	pw *passwordReader
}

func (g *globalOptions) close() {
	for i := len(g.closers) - 1; i >= 0; i-- {
		_ = g.closers[i]()
	}
	g.closers = nil
}

func usageErr(err error) error { return errs.AsUsage(err) }

// appOptions are the global flags as the builder takes them.
func (g *globalOptions) appOptions() app.Options {
	return app.Options{ConfigPath: g.ConfigPath, StateDir: g.StateDir, LogLevel: g.LogLevel, JSONLogs: g.LogFormat == "json", Logs: g.stderr, Clock: g.baseClock, ClockSync: g.clockSync}
}

// configSource says which config is in use, for status and errors.
func (g *globalOptions) configSource() string { return g.appOptions().ConfigSource() }

// loadConfig reads --config (or STEWARD_CONFIG), else ./steward.yaml, else
// the embedded default.
func (g *globalOptions) loadConfig() (*config.Config, error) { return g.appOptions().LoadConfig() }

// open loads the config and opens the initialised state dir; it is closed
// when the command ends.
func (g *globalOptions) open(ctx context.Context) (*app.App, error) {
	a, err := app.Open(ctx, g.appOptions())
	if err != nil {
		return nil, err
	}
	g.closers = append(g.closers, a.Close)
	return a, nil
}

// printJSON writes v as one line of JSON: --json output is one JSON value
// per line (JSON Lines), so that a script can read events and the report
// that follows them line by line.
func printJSON(w io.Writer, v any) error { return newJSONEncoder(w).Encode(v) }

// newJSONEncoder is the encoder of every --json line: compact, one value
// per Encode, "<" and "&" left as they are.
func newJSONEncoder(w io.Writer) *json.Encoder {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc
}

// requireArgs checks the number of positional arguments.
func requireArgs(cmd *cli.Command, n int, usage string) error {
	if cmd.Args().Len() != n {
		return errs.Usage("%s takes %s (see `%s --help`)", cmd.FullName(), usage, cmd.FullName())
	}
	return nil
}
