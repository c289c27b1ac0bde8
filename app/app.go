package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"steward/backup"
	"steward/drills"
	"steward/internal/audit"
	"steward/internal/auth"
	"steward/internal/catalog"
	"steward/internal/clock"
	"steward/internal/config"
	"steward/internal/errs"
	"steward/internal/keys"
	"steward/internal/logx"
	"steward/internal/repo"
	"steward/internal/resticx"
	"steward/internal/state"
	"steward/restore"
)

// Options say which config and state dir to open, and how to log.
type Options struct {
	// ConfigPath is the config file; "" means ./steward.yaml if it
	// exists, else the embedded default.
	ConfigPath string
	// StateDir overrides the config's state_dir when set.
	StateDir string
	// LogLevel is debug, info, warn (default) or error.
	LogLevel string
	// JSONLogs writes logs as JSON lines.
	JSONLogs bool
	// Logs receives the log lines (default: discarded).
	Logs io.Writer
	// Clock is the wall clock (tests inject a fake); nil is the system's.
	Clock clock.Clock
	// ClockSync says whether the system clock is synchronised (tests
	// inject an answer); nil asks the system (clock.CheckSync).
	ClockSync func(context.Context) clock.SyncStatus
}

// clockSync asks o.ClockSync, or the system.
func (o Options) clockSync(ctx context.Context) clock.SyncStatus {
	if o.ClockSync != nil {
		return o.ClockSync(ctx)
	}
	return clock.CheckSync(ctx)
}

// ConfigSource says which config file is in use ("" for the embedded
// default).
func (o Options) ConfigSource() string {
	switch {
	case o.ConfigPath != "":
		return o.ConfigPath
	case fileExists("steward.yaml"):
		return "steward.yaml"
	default:
		return ""
	}
}

// LoadConfig reads the config (see Options.ConfigPath).
func (o Options) LoadConfig() (*config.Config, error) {
	ov := config.Overrides{StateDir: o.StateDir}
	if src := o.ConfigSource(); src != "" {
		return config.Load(src, ov)
	}
	wd, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	return config.LoadDefault(wd, ov)
}

// ZonedClock is the clock in the config's time zone.
func (o Options) ZonedClock(cfg *config.Config) (*clock.Zoned, error) {
	loc, err := clock.LoadZone(cfg.Contract.TimeZone)
	if err != nil {
		return nil, err
	}
	return clock.New(loc, o.Clock), nil
}

// Logger is the logger the options ask for, in c's zone.
func (o Options) Logger(c *clock.Zoned) (*slog.Logger, error) {
	level, err := logx.ParseLevel(o.LogLevel)
	if err != nil {
		return nil, errs.AsUsage(err)
	}
	w := o.Logs
	if w == nil {
		w = io.Discard
	}
	return logx.New(w, o.JSONLogs, level, c.Location()), nil
}

// App is an opened state dir and what is built over it. It is safe for
// concurrent use; Close it when done.
type App struct {
	Config  *config.Config
	State   state.Dir
	Clock   *clock.Zoned
	Log     *slog.Logger
	Catalog catalog.Store
	Audit   *audit.Log
	// Keys is the master key (nil only if the state dir has none; a
	// keyring that fails with keys.ErrMasterKeyDestroyed after erasure).
	Keys *keys.Keyring

	mu     sync.Mutex
	restic *resticx.Runner
	repos  *repo.Opener
	auth   *auth.Service
}

// Open loads the config and opens its initialised state dir. A state dir
// that is not initialised is an error that says to run `steward init`.
func Open(ctx context.Context, o Options) (*App, error) {
	cfg, err := o.LoadConfig()
	if err != nil {
		return nil, err
	}
	return OpenConfig(ctx, cfg, o)
}

// OpenConfig opens cfg's initialised state dir.
func OpenConfig(ctx context.Context, cfg *config.Config, o Options) (*App, error) {
	c, err := o.ZonedClock(cfg)
	if err != nil {
		return nil, err
	}
	log, err := o.Logger(c)
	if err != nil {
		return nil, err
	}
	dir := state.Dir(cfg.StateDir)
	if err := checkPrivate(dir); err != nil {
		return nil, err
	}
	// The master key first: a PostgreSQL catalog's password may be sealed.
	kr, krErr := keys.Open(cfg.StateDir)
	store, err := catalog.OpenConfigured(ctx, cfg, kr)
	if errors.Is(err, catalog.ErrNoCatalog) && cfg.Catalog.Postgres != nil {
		return nil, err
	}
	if errors.Is(err, catalog.ErrNoCatalog) {
		if fileExists(dir.MasterKey()) {
			return nil, fmt.Errorf("%w: state dir %s has a master key but no catalog (%s was removed): restore the state dir from its backup; `steward init` will not overwrite it",
				catalog.ErrDamaged, cfg.StateDir, dir.Catalog())
		}
		return nil, fmt.Errorf("state dir %s is not initialised: run `steward init` first (or pass --state-dir)", cfg.StateDir)
	}
	if err != nil {
		return nil, err
	}
	err = krErr
	if errors.Is(err, keys.ErrMasterKeyDestroyed) {
		// Contract-end erasure destroyed it: what needs no sealed value
		// (show, verify, reports, the audit log) still works, and what
		// does says why it cannot.
		kr, err = keys.Destroyed(err), nil
	}
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("state dir %s: %w", cfg.StateDir, err)
	}
	return &App{Config: cfg, State: dir, Clock: c, Log: log, Catalog: store, Audit: newAudit(store, dir, c), Keys: kr}, nil
}

// newAudit is the audit log over store, mirrored in dir. A catalog that
// daemons share holds every daemon's records, and each state dir's mirror
// only its own.
func newAudit(store catalog.Store, dir state.Dir, c *clock.Zoned) *audit.Log {
	l := audit.New(store, dir.AuditMirror(), c)
	if catalog.Shared(store) {
		l.MirrorsPart()
	}
	return l
}

// Close closes the catalog.
func (a *App) Close() error { return a.Catalog.Close() }

// Record appends an audit record for an operator action.
func (a *App) Record(ctx context.Context, action, target, result string, details map[string]string) error {
	if _, err := a.Audit.Append(ctx, audit.Entry{Action: action, Target: target, Result: result, Details: details}); err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	return nil
}

// Restic is the restic runner (restic.path, or the one found in PATH).
func (a *App) Restic(ctx context.Context) (*resticx.Runner, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.restic != nil {
		return a.restic, nil
	}
	bin, _, err := resticx.Find(ctx, a.Config.Restic.Path)
	if err != nil {
		return nil, err
	}
	a.restic = &resticx.Runner{Bin: bin, StateDir: a.Config.StateDir, Timeout: a.Config.Restic.Timeout.D(), StallAfter: a.Config.Restic.StallTimeout.D(), Log: a.Log, TimeZone: a.Config.Contract.TimeZone}
	return a.restic, nil
}

// Repos opens the configured repositories.
func (a *App) Repos(ctx context.Context) (*repo.Opener, error) {
	runner, err := a.Restic(ctx)
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.repos == nil {
		d := repo.Deps{Config: a.Config, Keys: a.Keys, Restic: runner, Audit: a.Audit, Log: a.Log}
		if pg, ok := a.Catalog.(*catalog.Postgres); ok {
			d.Shared = repoLocks{pg}
		}
		a.repos = repo.New(d)
	}
	return a.repos, nil
}

// repoLocks locks repositories across the hosts sharing a PostgreSQL
// catalog, with its session advisory locks.
type repoLocks struct{ pg *catalog.Postgres }

func (r repoLocks) TryLockRepository(ctx context.Context, name string) (func(), error) {
	l, err := r.pg.TryLock(ctx, catalog.LockRepository, name)
	if err != nil || l == nil {
		return nil, err
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = l.Unlock(ctx)
	}, nil
}

// Backup is the backup engine.
func (a *App) Backup(ctx context.Context) (*backup.Engine, error) {
	if err := a.checkNotFrozen(ctx, "backups"); err != nil {
		return nil, err
	}
	repos, err := a.Repos(ctx)
	if err != nil {
		return nil, err
	}
	return backup.New(backup.Deps{Config: a.Config, Keys: a.Keys, Restic: repos.Restic(), Catalog: a.Catalog, Audit: a.Audit,
		Clock: a.Clock, Log: a.Log, Repos: repos}), nil
}

// Restorer restores snapshots.
func (a *App) Restorer(ctx context.Context) (*restore.Restorer, error) {
	if err := a.checkNotFrozen(ctx, "restores"); err != nil {
		return nil, err
	}
	repos, err := a.Repos(ctx)
	if err != nil {
		return nil, err
	}
	return restore.New(restore.Deps{Repos: repos, Audit: a.Audit, Clock: a.Clock, Log: a.Log}), nil
}

// Driller runs restore drills.
func (a *App) Driller(ctx context.Context) (*drills.Driller, error) {
	if err := a.checkNotFrozen(ctx, "drills"); err != nil {
		return nil, err
	}
	rst, err := a.Restorer(ctx)
	if err != nil {
		return nil, err
	}
	repos, _ := a.Repos(ctx)
	return drills.New(drills.Deps{Repos: repos, Restorer: rst, Store: a.Catalog, Audit: a.Audit, Clock: a.Clock, Log: a.Log}), nil
}

// ErrExposed means the state dir or a key in it can be read by others.
var ErrExposed = errors.New("state readable by others")

// checkPrivate refuses a state dir, master key, signing key or catalog
// that other users may read or write: the master key opens every
// repository's password, and the catalog names the contract's files.
func checkPrivate(dir state.Dir) error {
	for _, c := range []struct {
		path, fix string
	}{
		{dir.Root(), "chmod 700"}, {dir.MasterKey(), "chmod 600"}, {dir.SigningKey(), "chmod 600"}, {dir.Catalog(), "chmod 600"},
	} {
		st, err := os.Stat(c.path)
		if err != nil {
			continue // a missing file is reported where it is needed
		}
		if perm := st.Mode().Perm(); perm&0o077 != 0 {
			return fmt.Errorf("%w: %s has mode %04o, so other users may read or change it: run `%s %s` (and check who could have read it)",
				ErrExposed, c.path, perm, c.fix, c.path)
		}
	}
	return nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
