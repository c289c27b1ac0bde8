package app

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"steward/drills"
	"steward/internal/clock"
)

// TestStatusAttentionDrills: on a fake clock, a fresh state dir needs no
// attention; past the first drill drills.schedule names (and an hour's
// grace) the drill is overdue, and past drills.rpo_target a source never
// backed up needs attention; a failed newest drill needs attention, and it
// counts as the drill that was due.
func TestStatusAttentionDrills(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "steward.yaml")
	os.WriteFile(cfg, []byte(`contract: {id: K-1, customer: City, service: s, end_date: 2099-03-31}
state_dir: state
repositories: [{name: tokyo, local: {}}]
sources: [{name: docs, path: {path: /tmp/docs}}]
jobs: [{name: nightly, sources: [docs], repository: tokyo, schedule: "0 2 * * *"}]
drills: {schedule: "0 3 1 * *"}
`), 0o600)
	fake := clock.NewFake(testNow) // 2026-11-26 10:30 Tokyo
	o := Options{ConfigPath: cfg, Clock: fake, LogLevel: "warn", ClockSync: func(context.Context) clock.SyncStatus {
		return clock.SyncStatus{State: clock.Synchronised, Source: "test"}
	}}
	ctx := context.Background()
	if _, err := Init(ctx, o); err != nil {
		t.Fatal(err)
	}
	attention := func() []string {
		t.Helper()
		res, err := Status(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		return res.Attention
	}

	fake.Set(testNow.Add(time.Hour))
	if a := attention(); len(a) != 0 {
		t.Fatalf("fresh: %v", a)
	}
	res, _ := Status(ctx, o)
	if res.NextDrill != "2026-12-01T03:00:00.000+09:00" || res.Backups[0].NextRun != "2026-11-27T02:00:00.000+09:00" {
		t.Fatalf("next drill %q, next run %q", res.NextDrill, res.Backups[0].NextRun)
	}

	fake.Set(time.Date(2026, 12, 1, 4, 1, 0, 0, tokyo))
	a := strings.Join(attention(), "\n")
	if !strings.Contains(a, "a drill was due by drills.schedule") || !strings.Contains(a, "never backed up") {
		t.Fatalf("overdue: %s", a)
	}

	app, err := Open(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	start := time.Date(2026, 12, 1, 3, 0, 0, 0, tokyo)
	putDrill(t, app, &drills.Record{DrillID: "D1", Job: "nightly", Source: "docs", Repository: "tokyo", Started: start, Finished: start.Add(time.Minute), Result: drills.ResultFailed})
	a = strings.Join(attention(), "\n")
	if !strings.Contains(a, "drill D1 (docs from tokyo) failed") || strings.Contains(a, "was due") {
		t.Fatalf("failed drill: %s", a)
	}
}
