package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v3"

	"steward/internal/audit"
	"steward/internal/catalog"
	"steward/internal/clock"
	"steward/internal/config"
	"steward/internal/errs"
	"steward/internal/keys"
	"steward/internal/logx"
)

// globalOptions are the flags every command shares, plus the streams.
type globalOptions struct {
	ConfigPath string
	StateDir   string
	JSON       bool
	LogLevel   string

	stdin          io.Reader
	stdout, stderr io.Writer
	// baseClock is the wall clock; tests inject a fake.
	baseClock clock.Clock

	closers []func() error
}

func (g *globalOptions) close() {
	for i := len(g.closers) - 1; i >= 0; i-- {
		_ = g.closers[i]()
	}
	g.closers = nil
}

func usageErr(err error) error { return errs.AsUsage(err) }

// configSource says which config is in use, for status and errors.
func (g *globalOptions) configSource() string {
	switch {
	case g.ConfigPath != "":
		return g.ConfigPath
	case fileExists("steward.yaml"):
		return "steward.yaml"
	default:
		return ""
	}
}

// loadConfig reads --config (or STEWARD_CONFIG), else ./steward.yaml, else
// the embedded default.
func (g *globalOptions) loadConfig() (*config.Config, error) {
	ov := config.Overrides{StateDir: g.StateDir}
	if src := g.configSource(); src != "" {
		return config.Load(src, ov)
	}
	wd, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	return config.LoadDefault(wd, ov)
}

// env is what a command that works on the state dir needs.
type env struct {
	cfg   *config.Config
	clock *clock.Zoned
	log   *slog.Logger
	store catalog.Store
	audit *audit.Log
	keys  *keys.Keyring
}

func (g *globalOptions) zonedClock(cfg *config.Config) (*clock.Zoned, error) {
	loc, err := clock.LoadZone(cfg.Contract.TimeZone)
	if err != nil {
		return nil, err
	}
	return clock.New(loc, g.baseClock), nil
}

func (g *globalOptions) logger(loc *clock.Zoned) (*slog.Logger, error) {
	level, err := logx.ParseLevel(g.LogLevel)
	if err != nil {
		return nil, usageErr(err)
	}
	return logx.New(g.stderr, false, level, loc.Location()), nil
}

// open loads the config and opens the initialised state dir.
func (g *globalOptions) open(ctx context.Context) (*env, error) {
	cfg, err := g.loadConfig()
	if err != nil {
		return nil, err
	}
	c, err := g.zonedClock(cfg)
	if err != nil {
		return nil, err
	}
	log, err := g.logger(c)
	if err != nil {
		return nil, err
	}
	store, err := catalog.Open(ctx, catalog.Path(cfg.StateDir))
	if errors.Is(err, catalog.ErrNoCatalog) {
		return nil, fmt.Errorf("state dir %s is not initialised: run `steward init` first (or pass --state-dir)", cfg.StateDir)
	}
	if err != nil {
		return nil, err
	}
	g.closers = append(g.closers, store.Close)
	kr, err := keys.Open(cfg.StateDir)
	if err != nil {
		return nil, fmt.Errorf("state dir %s: %w", cfg.StateDir, err)
	}
	return &env{
		cfg:   cfg,
		clock: c,
		log:   log,
		store: store,
		audit: audit.New(store, audit.MirrorPath(cfg.StateDir), c),
		keys:  kr,
	}, nil
}

// record appends an audit record for an operator action by the OS user.
func (e *env) record(ctx context.Context, action, target, result string, details map[string]string) error {
	_, err := e.audit.Append(ctx, audit.Entry{Action: action, Target: target, Result: result, Details: details})
	if err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	return nil
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// requireArgs checks the number of positional arguments.
func requireArgs(cmd *cli.Command, n int, usage string) error {
	if cmd.Args().Len() != n {
		return errs.Usage("%s takes %s (see `steward %s --help`)", cmd.FullName(), usage, cmd.FullName())
	}
	return nil
}

func absPath(p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	return a
}
