package catalog

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDamagedCatalogIsNotReplaced: an empty catalog file, or a file that
// is not a Steward catalog, is an error that says how to recover; it is
// not silently replaced by a new, empty history, and is left as it was.
func TestDamagedCatalogIsNotReplaced(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.db")
	os.WriteFile(empty, nil, 0o600)
	if _, err := Open(ctx, empty); !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), "restore catalog.db from a backup") {
		t.Fatalf("empty catalog: %v", err)
	}
	if st, _ := os.Stat(empty); st.Size() != 0 {
		t.Fatalf("opening the empty catalog wrote %d bytes into it", st.Size())
	}

	// A SQLite file without Steward's schema.
	other := filepath.Join(dir, "other.db")
	s, err := Create(ctx, other)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.DB().ExecContext(ctx, "DROP TABLE schema_migrations"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := Open(ctx, other); !errors.Is(err, ErrDamaged) {
		t.Fatalf("a catalog without its schema table: %v", err)
	}

	if _, err := Open(ctx, filepath.Join(dir, "missing.db")); !errors.Is(err, ErrNoCatalog) {
		t.Fatalf("missing catalog: %v", err)
	}
}
