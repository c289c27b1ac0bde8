package catalog

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func newStore(t *testing.T) (*SQLite, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "catalog.db")
	s, err := Create(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

func TestCreateOpenMigrate(t *testing.T) {
	ctx := context.Background()
	s, path := newStore(t)
	v, err := s.SchemaVersion(ctx)
	if err != nil || v != len(migrations) {
		t.Fatalf("schema version %d, %v", v, err)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Fatalf("catalog mode %v", st.Mode())
	}
	s.Close()
	s2, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	var mode string
	if err := s2.DB().QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal mode %q, %v", mode, err)
	}
	if _, err := Open(ctx, filepath.Join(t.TempDir(), "none.db")); !errors.Is(err, ErrNoCatalog) {
		t.Fatalf("open missing: %v", err)
	}
}

// TestAppendAuditIsSerialised appends through several connections, as
// separate processes would; storetest checks one store shared by
// goroutines.
func TestAppendAuditIsSerialised(t *testing.T) {
	ctx := context.Background()
	_, path := newStore(t)
	// Several connections (as separate processes would) append at once.
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := Open(ctx, path)
			if err != nil {
				t.Error(err)
				return
			}
			defer s.Close()
			for i := 0; i < 10; i++ {
				_, err := s.AppendAudit(ctx, func(last *AuditRecord) (AuditRecord, error) {
					r := AuditRecord{Seq: 1, Action: "test", Details: map[string]string{"w": fmt.Sprint(w)}}
					if last != nil {
						r.Seq = last.Seq + 1
						r.PrevHash = last.Hash
					}
					r.Hash = fmt.Sprint("h", r.Seq)
					return r, nil
				}, nil)
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	s, _ := Open(ctx, path)
	defer s.Close()
	var n int64
	err := s.ScanAudit(ctx, func(r AuditRecord) error {
		n++
		if r.Seq != n || (n > 1 && r.PrevHash != fmt.Sprint("h", n-1)) {
			return fmt.Errorf("record %d out of order: %+v", n, r)
		}
		return nil
	})
	if err != nil || n != 40 {
		t.Fatalf("scanned %d: %v", n, err)
	}
}
