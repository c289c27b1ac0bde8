package drills

import (
	"context"
	"testing"
	"time"

	"steward/backup"
)

// TestManifestFromRepositoryAlone: with the catalog's manifests gone (a
// lost catalog, or a repository drilled on its own), a drill reads each
// snapshot's manifest from the repository — the companion snapshot of its
// run, or for an unchanged source the earlier companion its manifest:<id>
// tag names — and still verifies every source.
func TestManifestFromRepositoryAlone(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	w := newWorld(t, ctx, 1)

	// A second, unchanged backup: the directory source reuses the first
	// run's manifest (its data snapshot names it with manifest:<id>).
	rep, err := w.eng.Run(ctx, backup.RunOptions{Job: "j"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{} // source → manifest SHA-256 recorded at backup time
	reused := 0
	for _, r := range rep.Runs {
		want[r.Source] = r.ManifestSHA256
		if r.ManifestReused {
			reused++
		}
	}
	if len(want) != 3 || reused != 1 {
		t.Fatalf("second backup: %d sources, %d reused manifests; want 3 and 1 (the directory)", len(want), reused)
	}

	res, err := w.store.DB().ExecContext(ctx, "DELETE FROM manifests")
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n < 3 {
		t.Fatalf("deleted %d manifest rows, want at least 3", n)
	}

	recs, err := w.d.Run(ctx, RunOptions{Job: "j", Snapshot: "latest"})
	if err != nil {
		t.Fatalf("drill from the repository alone: %v", err)
	}
	if len(recs) != 3 {
		t.Fatalf("%d drill records, want one per source (3)", len(recs))
	}
	for _, r := range recs {
		if r.Result != ResultPassed {
			t.Errorf("source %s: %s: %v", r.Source, r.Result, r.Problems)
		}
		if r.Manifest.Origin != "repository" {
			t.Errorf("source %s: manifest from the %s, want the repository", r.Source, r.Manifest.Origin)
		}
		if r.Manifest.SHA256 == "" || r.Manifest.SHA256 != want[r.Source] {
			t.Errorf("source %s: manifest SHA-256 %q, the backup recorded %q", r.Source, r.Manifest.SHA256, want[r.Source])
		}
		verified := 0
		for _, c := range r.Checks {
			if c.Result == ResultPassed {
				verified++
			}
		}
		if verified < 3 {
			t.Errorf("source %s: only %d checks passed", r.Source, verified)
		}
	}
	w.noScratch(t, ctx)
}
