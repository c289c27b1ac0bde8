package audit

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"steward/internal/clock"
)

// Two logs over one catalog (two daemons sharing it), each mirroring in
// its own state dir: each mirror holds only its own records, and Verify
// of either passes while every mirrored record is the catalog's, and
// fails at a mirrored record the catalog no longer holds as it was.
func TestPartMirrorsOfASharedCatalog(t *testing.T) {
	ctx := context.Background()
	a, store, _ := newLog(t, 0)
	a.MirrorsPart()
	loc, _ := clock.LoadZone("Asia/Tokyo")
	b := New(store, filepath.Join(t.TempDir(), "audit.jsonl"), clock.New(loc, clock.NewFake(time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC))))
	b.MirrorsPart()
	for i, l := range []*Log{a, b, b, a, b} {
		if _, err := l.Append(ctx, Entry{Actor: "os:alice", Action: "backup.run", Target: "job:nightly", Result: ResultOK, Details: map[string]string{"i": string(rune('a' + i))}}); err != nil {
			t.Fatal(err)
		}
	}
	for name, l := range map[string]*Log{"a": a, "b": b} {
		if rep, err := l.Verify(ctx); err != nil || !rep.OK() || rep.Records != 5 {
			t.Fatalf("verify %s: %+v, %v", name, rep, err)
		}
	}
	// A full-mirror log over the same catalog sees b's records missing.
	if rep, _ := New(store, a.mirror, a.clock).Verify(ctx); rep.OK() {
		t.Fatal("a log with a full mirror verified a mirror that holds 2 of 5 records")
	}
	// Rewriting record 4 (a's) consistently is caught by a's mirror.
	rewrite(t, a, store, a.mirror+".unused", 4)
	if rep, _ := a.Verify(ctx); rep.OK() || rep.Problem == nil || rep.Problem.Where != "mirror" {
		t.Fatalf("verify after rewriting a mirrored record: %+v, want a mirror problem", rep)
	}
}
