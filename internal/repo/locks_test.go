package repo

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"steward/internal/config"
)

// TestHasResticLocksIgnoresUnfinishedWrites: in a local repository, a
// restic killed while taking its lock leaves locks/<id>-tmp-<n>, which
// restic neither honours nor removes; it is not a lock, or every later
// run would run `restic unlock` and audit a removal that removes nothing.
// A finished lock file is one.
func TestHasResticLocksIgnoresUnfinishedWrites(t *testing.T) {
	dir := t.TempDir()
	r := &Repo{Config: &config.Repository{Name: "disk", Local: &config.LocalRepo{Path: dir}}}
	o := &Opener{}
	has := func(want bool) {
		t.Helper()
		got, err := o.HasResticLocks(context.Background(), r)
		if err != nil || got != want {
			t.Fatalf("HasResticLocks = %v, %v; want %v", got, err, want)
		}
	}
	has(false) // no locks/ at all
	locks := filepath.Join(dir, "locks")
	if err := os.Mkdir(locks, 0o700); err != nil {
		t.Fatal(err)
	}
	has(false)
	id := strings.Repeat("9a", 32)
	if err := os.WriteFile(filepath.Join(locks, id+"-tmp-1367725075"), []byte("partial"), 0o600); err != nil {
		t.Fatal(err)
	}
	has(false)
	if err := os.WriteFile(filepath.Join(locks, id), []byte("lock"), 0o600); err != nil {
		t.Fatal(err)
	}
	has(true)
}
