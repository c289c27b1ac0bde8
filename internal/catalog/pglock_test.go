package catalog_test

import (
	"context"
	"testing"
	"time"

	"steward/internal/catalog"
)

// A session lock is held by one store at a time (two daemons), comes
// free on Unlock, and, when its connection is killed, says it is lost
// and is free for the other store.
func TestPostgresSessionLock(t *testing.T) {
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

	la, err := a.TryLock(ctx, catalog.LockRepository, "onprem")
	if err != nil || la == nil {
		t.Fatalf("first lock: %v, %v", la, err)
	}
	if lb, err := b.TryLock(ctx, catalog.LockRepository, "onprem"); err != nil || lb != nil {
		t.Fatalf("second lock while held: %v, %v; want nil, nil", lb, err)
	}
	if lb, err := b.TryLock(ctx, catalog.LockJob, "onprem"); err != nil || lb == nil {
		t.Fatalf("a lock of another kind: %v, %v; want it held", lb, err)
	} else {
		lb.Unlock(ctx)
	}
	if err := la.Unlock(ctx); err != nil {
		t.Fatal(err)
	}
	lb, err := b.TryLock(ctx, catalog.LockRepository, "onprem")
	if err != nil || lb == nil {
		t.Fatalf("lock after unlock: %v, %v", lb, err)
	}

	// b's connection dies (a daemon cut off): b learns it lost the lock,
	// and a can take it.
	c.pg.Exec(t, cfg.Database, `SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid <> pg_backend_pid()`)
	select {
	case <-lb.Lost():
	case <-time.After(10 * time.Second):
		t.Fatal("a lock whose connection was terminated is not reported lost")
	}
	lb.Unlock(ctx)
	la, err = a.TryLock(ctx, catalog.LockRepository, "onprem")
	if err != nil || la == nil {
		t.Fatalf("lock after the holder's connection died: %v, %v", la, err)
	}
	la.Unlock(ctx)
}
