package testenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"steward/internal/audit"
	"steward/internal/catalog"
	"steward/internal/clock"
	"steward/internal/config"
	"steward/internal/keys"
	"steward/internal/resticx"
)

// configHead is the part every capability test's config shares: a contract,
// the state dir and the pinned restic. Tests append their repositories,
// sources and jobs.
const configHead = `contract:
  id: TEST-1
  customer: Test City
  service: test
  end_date: 2099-03-31
state_dir: %s
restic:
  path: %s
residency:
  allowed_regions: [ap-northeast-1, ap-northeast-3]
`

// WriteConfig writes dir/steward.yaml (state dir dir/state, the pinned
// restic) with body appended, and returns its path.
func WriteConfig(t testing.TB, dir, body string) string {
	t.Helper()
	path := filepath.Join(dir, "steward.yaml")
	text := fmt.Sprintf(configHead, filepath.Join(dir, "state"), Bin(t, "restic")) + body
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// LoadConfig writes the config as WriteConfig does and loads it.
func LoadConfig(t testing.TB, dir, body string) *config.Config {
	t.Helper()
	cfg, err := config.Load(WriteConfig(t, dir, body))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return cfg
}

// State is an opened state dir: what a capability's engine is built from.
type State struct {
	Keys *keys.Keyring
	// Catalog is the configured catalog (catalog.OpenConfigured); Store is
	// the same when it is SQLite (the default), for tests that reach into
	// its tables, and nil when it is PostgreSQL.
	Catalog catalog.Store
	Store   *catalog.SQLite
	Audit   *audit.Log
	Clock   *clock.Zoned
	Restic  *resticx.Runner
}

// OpenState opens cfg's state dir, creating the master key and the
// catalog on first use. The catalog is closed when the test ends.
func OpenState(t testing.TB, cfg *config.Config) *State {
	t.Helper()
	ctx := context.Background()
	if _, err := os.Stat(keys.MasterKeyPath(cfg.StateDir)); err != nil {
		if err := keys.CreateMasterKey(cfg.StateDir); err != nil {
			t.Fatal(err)
		}
	}
	kr, err := keys.Open(cfg.StateDir)
	if err != nil {
		t.Fatal(err)
	}
	store, err := catalog.OpenConfigured(ctx, cfg, kr)
	if errors.Is(err, catalog.ErrNoCatalog) {
		store, err = catalog.CreateConfigured(ctx, cfg, kr)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	loc, err := clock.LoadZone(cfg.Contract.TimeZone)
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.New(loc, nil)
	log := audit.New(store, audit.MirrorPath(cfg.StateDir), clk)
	if catalog.Shared(store) {
		log.MirrorsPart()
	}
	sq, _ := store.(*catalog.SQLite)
	return &State{
		Keys:    kr,
		Catalog: store,
		Store:   sq,
		Audit:   log,
		Clock:   clk,
		Restic:  &resticx.Runner{Bin: cfg.Restic.Path, StateDir: cfg.StateDir, Timeout: 3 * time.Minute, Grace: 2 * time.Second, TimeZone: cfg.Contract.TimeZone},
	}
}
