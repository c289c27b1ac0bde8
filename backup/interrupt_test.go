package backup

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// TestInterruptStopsTheRun: Ctrl-C (a cancelled context) during the first
// source's backup stops the run there: the second source is not started,
// and nothing is recorded for it.
func TestInterruptStopsTheRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	writeFiles(t, a, 30, 200<<10)
	writeFiles(t, b, 3, 1<<10)
	f := newFixture(t, dir, fmt.Sprintf(`repositories:
  - {name: disk, local: {}}
sources:
  - {name: a, path: {path: %s}}
  - {name: b, path: {path: %s}}
jobs:
  - {name: j, sources: [a, b], repository: disk}
`, a, b), nil)
	if err := f.repos.Init(ctx, "disk"); err != nil {
		t.Fatal(err)
	}
	runCtx, interrupt := context.WithCancel(ctx)
	defer interrupt()
	var started []string
	rep, err := f.eng.Run(runCtx, RunOptions{Job: "j", Progress: func(ev Event) {
		if ev.Kind == EventStart {
			started = append(started, ev.Source)
			interrupt() // the operator presses Ctrl-C as the first source starts
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("an interrupted run returned %v, want context.Canceled among its errors", err)
	}
	if len(started) != 1 || started[0] != "a" {
		t.Fatalf("sources started: %v, want only a", started)
	}
	if len(rep.Runs) != 1 || rep.Runs[0].Source != "a" || rep.Runs[0].Result == ResultOK {
		t.Fatalf("runs: %+v; want one run of a, not ok", rep.Runs)
	}
	rows, err := f.store.JobRuns(context.Background(), "j", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if r.Source == "b" {
			t.Fatalf("source b has a run record after the interrupt: %+v", r)
		}
	}
}
