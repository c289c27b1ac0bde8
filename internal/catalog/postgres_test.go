package catalog_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"steward/internal/catalog"
	"steward/internal/catalog/storetest"
	"steward/internal/testenv"
)

// pgCatalogs hands out fresh databases on one PostgreSQL server.
type pgCatalogs struct {
	pg *testenv.Postgres
	n  atomic.Int64
}

func newPGCatalogs(t *testing.T) *pgCatalogs {
	t.Helper()
	return &pgCatalogs{pg: testenv.StartPostgres(t)}
}

// config creates a new, empty database and returns where it is.
func (c *pgCatalogs) config(t *testing.T) catalog.PostgresConfig {
	t.Helper()
	name := fmt.Sprintf("catalog_%d", c.n.Add(1))
	c.pg.CreateDatabase(t, name)
	return catalog.PostgresConfig{Host: c.pg.Host, Port: c.pg.Port, Database: name, User: c.pg.User, Password: c.pg.Password, SSLMode: "disable"}
}

func (c *pgCatalogs) create(t *testing.T) *catalog.Postgres {
	t.Helper()
	s, err := catalog.CreatePostgres(context.Background(), c.config(t))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestPostgresConformance runs the Store conformance suite against a new
// PostgreSQL catalog (a new database) per subtest.
func TestPostgresConformance(t *testing.T) {
	c := newPGCatalogs(t)
	storetest.Run(t, func(t *testing.T) catalog.Store { return c.create(t) })
}

// Two stores on one database (two daemons) appending at once keep one
// hash chain: every append reads the newest record under the lock.
func TestPostgresConcurrentAppendKeepsChain(t *testing.T) {
	ctx := context.Background()
	c := newPGCatalogs(t)
	cfg := c.config(t)
	a, err := catalog.CreatePostgres(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := catalog.OpenPostgres(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	build := func(last *catalog.AuditRecord) (catalog.AuditRecord, error) {
		r := catalog.AuditRecord{Seq: 1, Hash: "h1"}
		if last != nil {
			r = catalog.AuditRecord{Seq: last.Seq + 1, PrevHash: last.Hash, Hash: fmt.Sprint("h", last.Seq+1)}
		}
		return r, nil
	}
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for _, s := range []*catalog.Postgres{a, b, a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 25 {
				if _, err := s.AppendAudit(ctx, build, nil); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	var prev string
	n := int64(0)
	if err := a.ScanAudit(ctx, func(r catalog.AuditRecord) error {
		n++
		if r.Seq != n || r.PrevHash != prev {
			return fmt.Errorf("record %d: seq %d prev %q, want seq %d prev %q", n, r.Seq, r.PrevHash, n, prev)
		}
		prev = r.Hash
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n != 100 {
		t.Fatalf("%d records, want 100", n)
	}
}

// Create refuses a database that holds a catalog; Open refuses one that
// holds none; no error names the password.
func TestPostgresCreateOpenRefusals(t *testing.T) {
	ctx := context.Background()
	c := newPGCatalogs(t)
	cfg := c.config(t)
	if _, err := catalog.OpenPostgres(ctx, cfg); !errors.Is(err, catalog.ErrNoCatalog) {
		t.Fatalf("open an empty database: %v, want ErrNoCatalog", err)
	}
	s, err := catalog.CreatePostgres(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := catalog.CreatePostgres(ctx, cfg); !errors.Is(err, catalog.ErrNotEmpty) {
		t.Fatalf("create over a catalog: %v, want ErrNotEmpty", err)
	}
	bad := cfg
	bad.Password = "wrong-" + cfg.Password
	_, err = catalog.OpenPostgres(ctx, bad)
	if err == nil {
		t.Fatal("open with a wrong password succeeded")
	}
	if strings.Contains(err.Error(), cfg.Password) || strings.Contains(fmt.Sprint(cfg), cfg.Password) {
		t.Fatalf("error or config text shows the password: %v", err)
	}
}
