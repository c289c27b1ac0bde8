package catalog_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"steward/internal/catalog"
	"steward/internal/testenv"
)

// seed makes a catalog at path holding one audit record, one drill and
// one KV value.
func seed(t *testing.T, path string) {
	t.Helper()
	ctx := context.Background()
	s, err := catalog.Create(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := appendOne(s); err != nil {
		t.Fatal(err)
	}
	if err := s.PutDrill(ctx, catalog.DrillRow{ID: "d1", Job: "j", Started: "2025-01-01T00:00:00.000+09:00", Record: json.RawMessage(`{}`)}); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, "k", json.RawMessage(`1`)); err != nil {
		t.Fatal(err)
	}
}

func appendOne(s catalog.Store) (catalog.AuditRecord, error) {
	return s.AppendAudit(context.Background(), func(last *catalog.AuditRecord) (catalog.AuditRecord, error) {
		r := catalog.AuditRecord{Seq: 1, Time: "2025-01-01T00:00:00.000+09:00", Actor: "t", Action: "a", Target: "x", Result: "ok", Hash: "h1"}
		if last != nil {
			r.Seq, r.PrevHash, r.Hash = last.Seq+1, last.Hash, last.Hash+"'"
		}
		return r, nil
	}, nil)
}

// readAll reads what seed wrote.
func readAll(t *testing.T, s catalog.Store) {
	t.Helper()
	ctx := context.Background()
	if v, err := s.SchemaVersion(ctx); err != nil || v < 1 {
		t.Errorf("schema version %d, %v", v, err)
	}
	if r, err := s.LastAudit(ctx); err != nil || r.Seq != 1 {
		t.Errorf("last audit record %d, %v", r.Seq, err)
	}
	if ds, err := s.Drills(ctx, 0); err != nil || len(ds) != 1 {
		t.Errorf("drills %v, %v", ds, err)
	}
	if v, err := s.Get(ctx, "k"); err != nil || string(v) != "1" {
		t.Errorf("kv %q, %v", v, err)
	}
}

// wantDiskFull checks a write's error: it wraps ErrDiskFull, names the
// catalog and says what to do.
func wantDiskFull(t *testing.T, what string, err error, path string) {
	t.Helper()
	if !errors.Is(err, catalog.ErrDiskFull) || !strings.Contains(err.Error(), "disk is full ("+path+")") ||
		!strings.Contains(err.Error(), "free space on that disk and run the command again; nothing was recorded") {
		t.Errorf("%s on a full disk: %v", what, err)
	}
}

// TestOpenOnAFullDisk: on a disk with no space left at all, an up-to-date
// catalog opens and reads, changes nothing, and every write says that
// the disk is full, naming the catalog; a new catalog is not left behind
// half-made. Once space is freed, the catalog writes again.
func TestOpenOnAFullDisk(t *testing.T) {
	testenv.SmallDisk(t, 4<<20, func(dir string) {
		ctx := context.Background()
		path := filepath.Join(dir, "catalog.db")
		seed(t, path)
		before, _ := os.ReadFile(path)
		filler := testenv.FillDisk(t, dir)

		s, err := catalog.Open(ctx, path)
		if err != nil {
			t.Fatalf("open on a full disk: %v", err)
		}
		if !errors.Is(s.ReadOnly(), catalog.ErrDiskFull) {
			t.Errorf("ReadOnly on a full disk: %v", s.ReadOnly())
		}
		readAll(t, s)
		wantDiskFull(t, "Put", s.Put(ctx, "k", json.RawMessage(`2`)), path)
		_, err = appendOne(s)
		wantDiskFull(t, "AppendAudit", err, path)
		wantDiskFull(t, "PutDrill", s.PutDrill(ctx, catalog.DrillRow{ID: "d2", Job: "j", Started: "2025-01-02T00:00:00.000+09:00", Record: json.RawMessage(`{}`)}), path)
		s.Close()
		if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
			t.Error("the catalog changed on a full disk")
		}

		fresh := filepath.Join(dir, "new.db")
		_, err = catalog.Create(ctx, fresh)
		wantDiskFull(t, "Create", err, fresh)
		for _, p := range []string{fresh, fresh + "-wal", fresh + "-shm"} {
			if _, err := os.Stat(p); err == nil {
				t.Errorf("a failed Create left %s behind", p)
			}
		}

		os.Remove(filler)
		s, err = catalog.Open(ctx, path)
		if err != nil {
			t.Fatalf("open after freeing space: %v", err)
		}
		defer s.Close()
		if s.ReadOnly() != nil {
			t.Errorf("still read-only after freeing space: %v", s.ReadOnly())
		}
		if _, err := appendOne(s); err != nil {
			t.Errorf("append after freeing space: %v", err)
		}
	})
}

// TestWriteOnANearlyFullDisk: with a little space left, SQLite opens the
// catalog as usual, and a write that does not fit says that the disk is
// full.
func TestWriteOnANearlyFullDisk(t *testing.T) {
	testenv.SmallDisk(t, 4<<20, func(dir string) {
		ctx := context.Background()
		path := filepath.Join(dir, "catalog.db")
		seed(t, path)
		spare := filepath.Join(dir, "spare")
		if err := os.WriteFile(spare, make([]byte, 256<<10), 0o600); err != nil {
			t.Fatal(err)
		}
		testenv.FillDisk(t, dir)
		os.Remove(spare)

		s, err := catalog.Open(ctx, path)
		if err != nil {
			t.Fatalf("open on a nearly full disk: %v", err)
		}
		defer s.Close()
		if s.ReadOnly() != nil {
			t.Errorf("read-only with space left: %v", s.ReadOnly())
		}
		readAll(t, s)
		big, _ := json.Marshal(strings.Repeat("x", 1<<20))
		wantDiskFull(t, "a 1 MiB Put", s.Put(ctx, "big", big), path)
		if v, err := s.Get(ctx, "k"); err != nil || string(v) != "1" {
			t.Errorf("kv after the failed write: %q, %v", v, err)
		}
	})
}

// TestPendingMigrationOnAFullDisk: a catalog that needs a migration cannot
// get it on a full disk; Open says so and changes nothing.
func TestPendingMigrationOnAFullDisk(t *testing.T) {
	testenv.SmallDisk(t, 4<<20, func(dir string) {
		path := filepath.Join(dir, "catalog.db")
		// A catalog from before the first migration: the bookkeeping
		// table only.
		db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied TEXT NOT NULL DEFAULT (datetime('now')))`); err != nil {
			t.Fatal(err)
		}
		db.Close()
		before, _ := os.ReadFile(path)
		testenv.FillDisk(t, dir)

		_, err = catalog.Open(context.Background(), path)
		wantDiskFull(t, "a pending migration", err, path)
		if err == nil || !strings.Contains(err.Error(), "catalog migration 1: ") {
			t.Errorf("the error does not name the migration: %v", err)
		}
		if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
			t.Error("the catalog changed on a full disk")
		}
	})
}
