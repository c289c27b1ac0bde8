package app

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"steward/drills"
	"steward/internal/catalog"
	"steward/internal/clock"
)

// testNow is when the test apps' fake clock starts.
var testNow = time.Date(2026, 11, 26, 10, 30, 0, 0, tokyo)

// newTestAppClock initialises a state dir with one local repository (not
// created) on a fake clock and opens it.
func newTestAppClock(t *testing.T, clk clock.Clock) *App {
	t.Helper()
	dir := t.TempDir()
	restic, err := filepath.Abs(filepath.Join("..", "bin", "restic"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(restic); err != nil {
		t.Fatalf("%s: run scripts/setup.sh (it builds the pinned restic)", restic)
	}
	cfg := filepath.Join(dir, "steward.yaml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, `contract: {id: K-2024-017, customer: City, service: s, end_date: 2099-03-31}
state_dir: state
restic: {path: %s}
repositories:
  - {name: tokyo, local: {}}
sources:
  - {name: docs, path: {path: %s}}
jobs:
  - {name: nightly, sources: [docs], repository: tokyo}
`, restic, dir), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	o := Options{ConfigPath: cfg, Clock: clk, LogLevel: "warn"}
	if _, err := Init(ctx, o); err != nil {
		t.Fatal(err)
	}
	a, err := Open(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

func newTestApp(t *testing.T) *App { return newTestAppClock(t, clock.NewFake(testNow)) }

// putDrill stores rec in the catalog as the drills package does.
func putDrill(t *testing.T, a *App, rec *drills.Record) {
	t.Helper()
	body, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Catalog.PutDrill(context.Background(), catalog.DrillRow{ID: rec.DrillID, Job: rec.Job, Started: a.Clock.Format(rec.Started),
		Finished: a.Clock.Format(rec.Finished), Result: rec.Result, Record: body}); err != nil {
		t.Fatal(err)
	}
}
