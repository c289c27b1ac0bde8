package drills

import (
	"context"
	"errors"
	"testing"
	"time"

	"steward/internal/repo"
)

// TestDrillRefusesABusyRepository: while another Steward run holds the
// repository, a drill is refused at once, before it restores anything or
// records a drill.
func TestDrillRefusesABusyRepository(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	w := newWorld(t, ctx, 1)
	release, err := w.repos.Lock(ctx, []string{"disk"})
	if err != nil {
		t.Fatal(err)
	}
	recs, err := w.d.Run(ctx, RunOptions{Job: "j", Source: "files"})
	release()
	if !errors.Is(err, repo.ErrBusy) {
		t.Fatalf("drill of a busy repository: %v", err)
	}
	if len(recs) != 0 {
		t.Fatalf("a refused drill recorded %d drills", len(recs))
	}
	if rows, _ := w.store.Drills(ctx, 0); len(rows) != 0 {
		t.Fatalf("a refused drill left %d drill records", len(rows))
	}
	if recs, err := w.d.Run(ctx, RunOptions{Job: "j", Source: "files"}); err != nil || len(recs) != 1 || recs[0].Result != ResultPassed {
		t.Fatalf("drill once the repository is free: %v", err)
	}
}
