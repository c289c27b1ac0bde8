// Package storetest is the conformance suite of catalog.Store. Every
// implementation (SQLite, and PostgreSQL for redundant daemons)
// runs it from its own tests:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) catalog.Store { return openEmpty(t) })
//	}
//
// The suite checks the contract stated in the catalog package's doc
// comments, and nothing an implementation may choose freely (such as the
// order of rows tied on their ordering field).
package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"steward/internal/catalog"
	"steward/internal/clock"
)

// Run runs the suite against the implementation open makes. open must
// return a new, empty, migrated store private to the test it is given
// (it may register cleanups on that test, e.g. to remove files). Run
// closes every store it opens, and fails the test if Close fails, so open
// must not close it.
func Run(t *testing.T, open func(t *testing.T) catalog.Store) {
	s := suite{open: open}
	groups := []struct {
		name  string
		tests []subtest
	}{
		{"Audit", s.auditTests()},
		{"KV", s.kvTests()},
		{"Runs", s.runTests()},
		{"Snapshots", s.snapshotTests()},
		{"Manifests", s.manifestTests()},
		{"Erase", s.eraseTests()},
		{"Drills", s.drillTests()},
		{"Operators", s.operatorTests()},
		{"Schedule", s.scheduleTests()},
		{"Store", s.storeTests()},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			for _, st := range g.tests {
				t.Run(st.name, st.fn)
			}
		})
	}
}

type subtest struct {
	name string
	fn   func(t *testing.T)
}

type suite struct {
	open func(t *testing.T) catalog.Store
}

// store opens a fresh store for t and closes it when t ends.
func (s suite) store(t *testing.T) catalog.Store {
	t.Helper()
	st := s.open(t)
	if st == nil {
		t.Fatal("open returned a nil store")
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return st
}

var ctx = context.Background()

// base is the instant the suite's times are relative to.
var base = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

// at formats the instant base+d in the zone loc the way Steward writes
// catalog times (clock.Layout).
func at(d time.Duration, loc *time.Location) string { return base.Add(d).In(loc).Format(clock.Layout) }

var (
	tokyo    = time.FixedZone("JST", 9*3600)
	newYork  = time.FixedZone("EST", -5*3600)
	errBuild = errors.New("storetest: build failed")
	errHook  = errors.New("storetest: commit hook failed")
	errStop  = errors.New("storetest: stop scanning")
)

// show renders a value for failure messages (Record fields stay readable
// JSON).
func show(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%+v", v)
	}
	return string(b)
}

func mustNotFound(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, catalog.ErrNotFound) {
		t.Fatalf("%s: err = %v, want ErrNotFound", what, err)
	}
}

func runIDs(rs []catalog.RunRow) []string {
	out := []string{}
	for _, r := range rs {
		out = append(out, r.ID)
	}
	return out
}

func snapIDs(rs []catalog.SnapshotRow) []string {
	out := []string{}
	for _, r := range rs {
		out = append(out, r.Repository+"/"+r.SnapshotID)
	}
	return out
}

func drillIDs(rs []catalog.DrillRow) []string {
	out := []string{}
	for _, r := range rs {
		out = append(out, r.ID)
	}
	return out
}

func wantIDs(t *testing.T, what string, got []string, err error, want ...string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if want == nil {
		want = []string{}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("%s = %q, want %q", what, got, want)
	}
}

// ---- audit ----

// chain is a build function that appends the next record of a hash chain.
func chain(action string, details map[string]string) func(*catalog.AuditRecord) (catalog.AuditRecord, error) {
	return func(last *catalog.AuditRecord) (catalog.AuditRecord, error) {
		r := catalog.AuditRecord{Seq: 1, Action: action, Details: details}
		if last != nil {
			r.Seq = last.Seq + 1
			r.PrevHash = last.Hash
		}
		r.Hash = fmt.Sprint("h", r.Seq)
		return r, nil
	}
}

// withSeq is a build function that ignores the log and returns a record
// with this Seq, hash and time.
func withSeq(seq int64, hash string, d time.Duration) func(*catalog.AuditRecord) (catalog.AuditRecord, error) {
	return func(*catalog.AuditRecord) (catalog.AuditRecord, error) {
		return catalog.AuditRecord{Seq: seq, Time: at(d, tokyo), Action: "test", Hash: hash}, nil
	}
}

func scanAll(t *testing.T, s catalog.Store) []catalog.AuditRecord {
	t.Helper()
	var out []catalog.AuditRecord
	if err := s.ScanAudit(ctx, func(r catalog.AuditRecord) error {
		out = append(out, r)
		return nil
	}); err != nil {
		t.Fatalf("scan audit: %v", err)
	}
	return out
}

func seqs(rs []catalog.AuditRecord) []int64 {
	out := []int64{}
	for _, r := range rs {
		out = append(out, r.Seq)
	}
	return out
}

func (s suite) auditTests() []subtest {
	return []subtest{
		{"EmptyLog", func(t *testing.T) {
			st := s.store(t)
			_, err := st.LastAudit(ctx)
			mustNotFound(t, "last audit of an empty log", err)
			calls := 0
			if err := st.ScanAudit(ctx, func(catalog.AuditRecord) error { calls++; return nil }); err != nil || calls != 0 {
				t.Fatalf("scan of an empty log: %d calls, %v", calls, err)
			}
		}},
		{"RoundTrip", func(t *testing.T) {
			st := s.store(t)
			first := catalog.AuditRecord{Seq: 1, Time: at(0, tokyo), Actor: "alice", Action: "backup.run", Target: "job/nightly",
				Result: "ok", Details: map[string]string{"run": "r1", "bytes": "12"}, PrevHash: "", Hash: "h1"}
			var gotLast []*catalog.AuditRecord
			var hooked []catalog.AuditRecord
			build := func(rec catalog.AuditRecord) func(*catalog.AuditRecord) (catalog.AuditRecord, error) {
				return func(last *catalog.AuditRecord) (catalog.AuditRecord, error) {
					gotLast = append(gotLast, last)
					return rec, nil
				}
			}
			hook := func(r catalog.AuditRecord) error { hooked = append(hooked, r); return nil }
			ret, err := st.AppendAudit(ctx, build(first), hook)
			if err != nil {
				t.Fatalf("append: %v", err)
			}
			if !reflect.DeepEqual(ret, first) {
				t.Fatalf("append returned %s, want %s", show(ret), show(first))
			}
			if len(gotLast) != 1 || gotLast[0] != nil {
				t.Fatalf("build on an empty log got %d calls, last %v; want one call with nil", len(gotLast), gotLast)
			}
			if len(hooked) != 1 || !reflect.DeepEqual(hooked[0], first) {
				t.Fatalf("commit hook got %s, want [%s]", show(hooked), show(first))
			}
			last, err := st.LastAudit(ctx)
			if err != nil || !reflect.DeepEqual(last, first) {
				t.Fatalf("last audit = %s, %v; want %s", show(last), err, show(first))
			}

			// A record without details; build sees the first record.
			second := catalog.AuditRecord{Seq: 2, Time: at(time.Second, tokyo), Actor: "system", Action: "drill.run",
				Target: "job/nightly", Result: "failed", PrevHash: "h1", Hash: "h2"}
			if _, err := st.AppendAudit(ctx, build(second), nil); err != nil {
				t.Fatalf("append without a hook: %v", err)
			}
			if len(gotLast) != 2 || gotLast[1] == nil || !reflect.DeepEqual(*gotLast[1], first) {
				t.Fatalf("build got last %s, want %s", show(gotLast), show(first))
			}
			all := scanAll(t, st)
			if len(all) != 2 {
				t.Fatalf("scan = %s, want 2 records", show(all))
			}
			if !reflect.DeepEqual(all[0], first) {
				t.Fatalf("scanned %s, want %s", show(all[0]), show(first))
			}
			if len(all[1].Details) != 0 {
				t.Fatalf("details of a record without details: %v", all[1].Details)
			}
			all[1].Details = nil
			if !reflect.DeepEqual(all[1], second) {
				t.Fatalf("scanned %s, want %s", show(all[1]), show(second))
			}
		}},
		{"BuildErrorStoresNothing", func(t *testing.T) {
			st := s.store(t)
			if _, err := st.AppendAudit(ctx, chain("first", nil), nil); err != nil {
				t.Fatal(err)
			}
			hooked := false
			_, err := st.AppendAudit(ctx, func(*catalog.AuditRecord) (catalog.AuditRecord, error) {
				return catalog.AuditRecord{Seq: 2, Hash: "h2"}, errBuild
			}, func(catalog.AuditRecord) error { hooked = true; return nil })
			if !errors.Is(err, errBuild) {
				t.Fatalf("append with a failing build: err = %v, want %v", err, errBuild)
			}
			if hooked {
				t.Fatal("commit hook called although build failed")
			}
			if got := seqs(scanAll(t, st)); !slices.Equal(got, []int64{1}) {
				t.Fatalf("log after a failed build holds seqs %v, want [1]", got)
			}
		}},
		{"RollsBackWhenCommitHookFails", func(t *testing.T) {
			st := s.store(t)
			// On an empty log.
			_, err := st.AppendAudit(ctx, chain("a", nil), func(catalog.AuditRecord) error { return errHook })
			if !errors.Is(err, errHook) {
				t.Fatalf("append with a failing hook: err = %v, want %v", err, errHook)
			}
			_, err = st.LastAudit(ctx)
			mustNotFound(t, "last audit after a failed hook on an empty log", err)
			// After a stored record.
			if _, err := st.AppendAudit(ctx, chain("b", nil), nil); err != nil {
				t.Fatal(err)
			}
			var hookSaw catalog.AuditRecord
			_, err = st.AppendAudit(ctx, chain("c", nil), func(r catalog.AuditRecord) error { hookSaw = r; return errHook })
			if !errors.Is(err, errHook) {
				t.Fatalf("append with a failing hook: err = %v, want %v", err, errHook)
			}
			if hookSaw.Seq != 2 || hookSaw.Action != "c" {
				t.Fatalf("hook saw %s, want seq 2 action c", show(hookSaw))
			}
			last, err := st.LastAudit(ctx)
			if err != nil || last.Seq != 1 || last.Action != "b" {
				t.Fatalf("last audit after a failed hook = %s, %v; want seq 1 action b", show(last), err)
			}
			// The next append builds on the record that was kept.
			rec, err := st.AppendAudit(ctx, chain("d", nil), nil)
			if err != nil || rec.Seq != 2 || rec.PrevHash != "h1" {
				t.Fatalf("append after a rollback = %s, %v; want seq 2 after h1", show(rec), err)
			}
			if got := seqs(scanAll(t, st)); !slices.Equal(got, []int64{1, 2}) {
				t.Fatalf("seqs %v, want [1 2]", got)
			}
		}},
		{"RejectsDuplicateSeq", func(t *testing.T) {
			st := s.store(t)
			if _, err := st.AppendAudit(ctx, withSeq(1, "original", 0), nil); err != nil {
				t.Fatal(err)
			}
			hooked := false
			if _, err := st.AppendAudit(ctx, withSeq(1, "duplicate", 0), func(catalog.AuditRecord) error { hooked = true; return nil }); err == nil {
				t.Fatal("appending a second record with seq 1 succeeded")
			}
			if hooked {
				t.Fatal("commit hook called for a record that was not stored")
			}
			all := scanAll(t, st)
			if len(all) != 1 || all[0].Hash != "original" {
				t.Fatalf("log after a duplicate seq = %s, want only the original", show(all))
			}
		}},
		{"OrderedBySeq", func(t *testing.T) {
			st := s.store(t)
			// Insertion, hash and time orders all differ from seq order.
			for _, r := range []struct {
				seq  int64
				hash string
				d    time.Duration
			}{{2, "ha", time.Second}, {5, "hb", 0}, {1, "hc", 2 * time.Second}} {
				if _, err := st.AppendAudit(ctx, withSeq(r.seq, r.hash, r.d), nil); err != nil {
					t.Fatal(err)
				}
			}
			if got := seqs(scanAll(t, st)); !slices.Equal(got, []int64{1, 2, 5}) {
				t.Fatalf("scan order %v, want [1 2 5]", got)
			}
			last, err := st.LastAudit(ctx)
			if err != nil || last.Seq != 5 || last.Hash != "hb" {
				t.Fatalf("last audit = %s, %v; want seq 5", show(last), err)
			}
			// build is given the highest seq, not the latest inserted.
			var sawSeq int64
			if _, err := st.AppendAudit(ctx, func(last *catalog.AuditRecord) (catalog.AuditRecord, error) {
				if last != nil {
					sawSeq = last.Seq
				}
				return catalog.AuditRecord{Seq: 6, Hash: "h6"}, nil
			}, nil); err != nil {
				t.Fatal(err)
			}
			if sawSeq != 5 {
				t.Fatalf("build saw last seq %d, want 5", sawSeq)
			}
		}},
		{"ScanStopsAtError", func(t *testing.T) {
			st := s.store(t)
			for i := 0; i < 3; i++ {
				if _, err := st.AppendAudit(ctx, chain("x", nil), nil); err != nil {
					t.Fatal(err)
				}
			}
			var seen []int64
			err := st.ScanAudit(ctx, func(r catalog.AuditRecord) error {
				seen = append(seen, r.Seq)
				if len(seen) == 2 {
					return errStop
				}
				return nil
			})
			if !errors.Is(err, errStop) {
				t.Fatalf("scan: err = %v, want %v", err, errStop)
			}
			if !slices.Equal(seen, []int64{1, 2}) {
				t.Fatalf("scan visited %v, want [1 2]", seen)
			}
		}},
		{"AppendIsSerialised", func(t *testing.T) {
			st := s.store(t)
			const writers, each = 4, 10
			var wg sync.WaitGroup
			for w := 0; w < writers; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; i < each; i++ {
						if _, err := st.AppendAudit(ctx, chain("concurrent", map[string]string{"w": fmt.Sprint(w)}), nil); err != nil {
							t.Errorf("writer %d append %d: %v", w, i, err)
							return
						}
					}
				}()
			}
			wg.Wait()
			all := scanAll(t, st)
			if len(all) != writers*each {
				t.Fatalf("scanned %d records, want %d", len(all), writers*each)
			}
			for i, r := range all {
				want := int64(i + 1)
				if r.Seq != want || r.Hash != fmt.Sprint("h", want) || (want > 1 && r.PrevHash != fmt.Sprint("h", want-1)) {
					t.Fatalf("record %d out of chain: %s", i, show(r))
				}
			}
		}},
	}
}

// ---- KV ----

func (s suite) kvTests() []subtest {
	return []subtest{
		{"GetMissing", func(t *testing.T) {
			st := s.store(t)
			_, err := st.Get(ctx, "missing")
			mustNotFound(t, "get of a missing key", err)
		}},
		{"PutReplacesVerbatim", func(t *testing.T) {
			st := s.store(t)
			for _, v := range []string{`1`, `{"b": [1, 2],  "a":"x"}`, `"text"`, `{"a":2}`} {
				if err := st.Put(ctx, "k", json.RawMessage(v)); err != nil {
					t.Fatalf("put %s: %v", v, err)
				}
				got, err := st.Get(ctx, "k")
				if err != nil || string(got) != v {
					t.Fatalf("get after put %s = %s, %v", v, got, err)
				}
			}
		}},
		{"KeysAreIndependent", func(t *testing.T) {
			st := s.store(t)
			if err := st.Put(ctx, "drills/subset/repo1", json.RawMessage(`3`)); err != nil {
				t.Fatal(err)
			}
			if err := st.Put(ctx, "drills/subset/repo2", json.RawMessage(`7`)); err != nil {
				t.Fatal(err)
			}
			for k, want := range map[string]string{"drills/subset/repo1": `3`, "drills/subset/repo2": `7`} {
				if got, err := st.Get(ctx, k); err != nil || string(got) != want {
					t.Fatalf("get %s = %s, %v; want %s", k, got, err, want)
				}
			}
			_, err := st.Get(ctx, "drills/subset")
			mustNotFound(t, "get of a key prefix", err)
		}},
	}
}

// ---- runs ----

func putRuns(t *testing.T, st catalog.Store, rs ...catalog.RunRow) {
	t.Helper()
	for _, r := range rs {
		if r.Record == nil {
			r.Record = json.RawMessage(`{}`)
		}
		if err := st.PutRun(ctx, r); err != nil {
			t.Fatalf("put run %s: %v", r.ID, err)
		}
	}
}

func (s suite) runTests() []subtest {
	return []subtest{
		{"RunNotFound", func(t *testing.T) {
			st := s.store(t)
			_, err := st.Run(ctx, "missing")
			mustNotFound(t, "run of an empty store", err)
			putRuns(t, st, catalog.RunRow{ID: "r1", Job: "j", Source: "s", Repository: "repo", Started: at(0, tokyo)})
			_, err = st.Run(ctx, "r2")
			mustNotFound(t, "run r2", err)
		}},
		{"RoundTrip", func(t *testing.T) {
			st := s.store(t)
			want := catalog.RunRow{ID: "r1", Job: "nightly", Source: "db", Repository: "onprem", SnapshotID: "abc123",
				Started: at(0, tokyo), Finished: at(90*time.Second, tokyo), Result: "ok",
				Record: json.RawMessage(`{"bytes_read": 12, "kind":"path"}`)}
			putRuns(t, st, want)
			got, err := st.Run(ctx, "r1")
			if err != nil || !reflect.DeepEqual(got, want) {
				t.Fatalf("run = %s, %v; want %s", show(got), err, show(want))
			}
		}},
		{"PutUpserts", func(t *testing.T) {
			st := s.store(t)
			first := catalog.RunRow{ID: "r1", Job: "nightly", Source: "db", Repository: "onprem", Started: at(0, tokyo),
				Record: json.RawMessage(`{"state":"running"}`)}
			putRuns(t, st, first, first) // the same row twice is harmless
			later := catalog.RunRow{ID: "r1", Job: "other-job", Source: "other-source", Repository: "other-repo",
				SnapshotID: "abc", Started: at(time.Hour, tokyo), Finished: at(2*time.Hour, tokyo), Result: "ok",
				Record: json.RawMessage(`{"state":"done"}`)}
			putRuns(t, st, later)
			want := first
			want.SnapshotID, want.Finished, want.Result, want.Record = later.SnapshotID, later.Finished, later.Result, later.Record
			got, err := st.Run(ctx, "r1")
			if err != nil || !reflect.DeepEqual(got, want) {
				t.Fatalf("run after upsert = %s, %v; want %s", show(got), err, show(want))
			}
			rs, err := st.JobRuns(ctx, "nightly", 0)
			wantIDs(t, "job runs after upsert", runIDs(rs), err, "r1")
			rs, err = st.RunsWithResult(ctx, "onprem", "")
			wantIDs(t, "running runs after the upsert finished r1", runIDs(rs), err)
			rs, err = st.RunsWithResult(ctx, "onprem", "ok")
			wantIDs(t, "ok runs after upsert", runIDs(rs), err, "r1")
		}},
		{"RunsWithResult", func(t *testing.T) {
			st := s.store(t)
			// Inserted out of time order.
			putRuns(t, st,
				catalog.RunRow{ID: "late", Job: "j", Source: "s", Repository: "repo1", Started: at(3*time.Hour, tokyo)},
				catalog.RunRow{ID: "early", Job: "j", Source: "s", Repository: "repo1", Started: at(1*time.Hour, tokyo)},
				catalog.RunRow{ID: "mid", Job: "j", Source: "s", Repository: "repo1", Started: at(2*time.Hour, tokyo)},
				catalog.RunRow{ID: "ok", Job: "j", Source: "s", Repository: "repo1", Started: at(4*time.Hour, tokyo), Result: "ok"},
				catalog.RunRow{ID: "failed", Job: "j", Source: "s", Repository: "repo1", Started: at(5*time.Hour, tokyo), Result: "failed"},
				catalog.RunRow{ID: "elsewhere", Job: "j", Source: "s", Repository: "repo2", Started: at(0, tokyo)},
			)
			rs, err := st.RunsWithResult(ctx, "repo1", "")
			wantIDs(t, `repo1 runs with result ""`, runIDs(rs), err, "early", "mid", "late")
			rs, err = st.RunsWithResult(ctx, "repo1", "ok")
			wantIDs(t, "repo1 ok runs", runIDs(rs), err, "ok")
			rs, err = st.RunsWithResult(ctx, "repo1", "failed")
			wantIDs(t, "repo1 failed runs", runIDs(rs), err, "failed")
			rs, err = st.RunsWithResult(ctx, "repo2", "")
			wantIDs(t, `repo2 runs with result ""`, runIDs(rs), err, "elsewhere")
			rs, err = st.RunsWithResult(ctx, "repo1", "interrupted")
			wantIDs(t, "repo1 interrupted runs", runIDs(rs), err)
			rs, err = st.RunsWithResult(ctx, "repo3", "")
			wantIDs(t, "runs of an unknown repository", runIDs(rs), err)
		}},
		{"JobRuns", func(t *testing.T) {
			st := s.store(t)
			putRuns(t, st,
				catalog.RunRow{ID: "j-1", Job: "j", Source: "s", Repository: "repo1", Started: at(1*time.Hour, tokyo), Result: "ok"},
				catalog.RunRow{ID: "j-3", Job: "j", Source: "s2", Repository: "repo2", Started: at(3*time.Hour, tokyo)},
				catalog.RunRow{ID: "j-2", Job: "j", Source: "s", Repository: "repo1", Started: at(2*time.Hour, tokyo), Result: "failed"},
				catalog.RunRow{ID: "k-1", Job: "k", Source: "s", Repository: "repo1", Started: at(4*time.Hour, tokyo)},
			)
			for _, c := range []struct {
				limit int
				want  []string
			}{
				{0, []string{"j-3", "j-2", "j-1"}},
				{-1, []string{"j-3", "j-2", "j-1"}},
				{1, []string{"j-3"}},
				{2, []string{"j-3", "j-2"}},
				{3, []string{"j-3", "j-2", "j-1"}},
				{10, []string{"j-3", "j-2", "j-1"}},
			} {
				rs, err := st.JobRuns(ctx, "j", c.limit)
				wantIDs(t, fmt.Sprintf("job runs limit %d", c.limit), runIDs(rs), err, c.want...)
			}
			rs, err := st.JobRuns(ctx, "k", 0)
			wantIDs(t, "job k runs", runIDs(rs), err, "k-1")
			rs, err = st.JobRuns(ctx, "none", 5)
			wantIDs(t, "runs of an unknown job", runIDs(rs), err)
		}},
		{"RunsStartedBetween", func(t *testing.T) {
			st := s.store(t)
			// The window is [base, base+24h). Start times carry different
			// offsets, so their text order differs from their time order.
			putRuns(t, st,
				catalog.RunRow{ID: "before-window", Job: "j", Source: "s", Repository: "r", Started: at(-time.Millisecond, tokyo)},
				catalog.RunRow{ID: "long-before", Job: "j", Source: "s", Repository: "r", Started: at(-48*time.Hour, time.UTC)},
				catalog.RunRow{ID: "at-to", Job: "j", Source: "s", Repository: "r", Started: at(24*time.Hour, time.UTC), Result: "ok"},
				catalog.RunRow{ID: "last-ms", Job: "j", Source: "s", Repository: "r", Started: at(24*time.Hour-time.Millisecond, newYork), Result: "failed"},
				catalog.RunRow{ID: "at-from", Job: "j", Source: "s", Repository: "r", Started: at(0, tokyo), Result: "ok"},
				catalog.RunRow{ID: "hour-in", Job: "j2", Source: "s2", Repository: "r2", Started: at(time.Hour, time.UTC)},
				catalog.RunRow{ID: "after-window", Job: "j", Source: "s", Repository: "r", Started: at(25*time.Hour, tokyo)},
			)
			from, to := base.In(newYork), base.Add(24*time.Hour).In(tokyo)
			rs, err := st.RunsStartedBetween(ctx, from, to)
			wantIDs(t, "runs in [from, to)", runIDs(rs), err, "at-from", "hour-in", "last-ms")
			if len(rs) == 3 && (rs[2].Result != "failed" || rs[2].Started != at(24*time.Hour-time.Millisecond, newYork)) {
				t.Fatalf("run last-ms = %s", show(rs[2]))
			}
			rs, err = st.RunsStartedBetween(ctx, time.Time{}, base)
			wantIDs(t, "runs before from (zero from)", runIDs(rs), err, "long-before", "before-window")
			rs, err = st.RunsStartedBetween(ctx, base.Add(24*time.Hour), base.Add(48*time.Hour))
			wantIDs(t, "runs in the next day", runIDs(rs), err, "at-to", "after-window")
			rs, err = st.RunsStartedBetween(ctx, base, base)
			wantIDs(t, "runs in an empty window", runIDs(rs), err)
			rs, err = st.RunsStartedBetween(ctx, base.Add(time.Hour), base.Add(time.Hour+time.Millisecond))
			wantIDs(t, "runs in a one-millisecond window", runIDs(rs), err, "hour-in")
		}},
	}
}

// ---- snapshots ----

func putSnapshots(t *testing.T, st catalog.Store, rs ...catalog.SnapshotRow) {
	t.Helper()
	for _, r := range rs {
		if r.Record == nil {
			r.Record = json.RawMessage(`{}`)
		}
		if err := st.PutSnapshot(ctx, r); err != nil {
			t.Fatalf("put snapshot %s/%s: %v", r.Repository, r.SnapshotID, err)
		}
	}
}

// putManifests stores each row with the body "body of <label>", where
// the row's SHA256 holds the label: it is replaced with bodySum(label).
func putManifests(t *testing.T, st catalog.Store, ms ...catalog.ManifestRow) {
	t.Helper()
	for _, m := range ms {
		label := m.SHA256
		m.SHA256 = bodySum(label)
		if err := st.PutManifest(ctx, m, strings.NewReader("body of "+label)); err != nil {
			t.Fatalf("put manifest %s: %v", m.SnapshotID, err)
		}
	}
}

// bodySum is the SHA-256 of the body putManifests stores for label.
func bodySum(label string) string { return hexSum([]byte("body of " + label)) }

func hexSum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// readBody reads the body stored under sum whole.
func readBody(t *testing.T, st catalog.Store, sum string) ([]byte, error) {
	t.Helper()
	rc, err := st.ManifestBody(ctx, sum)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

func (s suite) snapshotTests() []subtest {
	return []subtest{
		{"SnapshotNotFound", func(t *testing.T) {
			st := s.store(t)
			_, err := st.Snapshot(ctx, "repo1", "abc")
			mustNotFound(t, "snapshot of an empty store", err)
			putSnapshots(t, st, catalog.SnapshotRow{Repository: "repo1", SnapshotID: "abc", Job: "j", Source: "s", Time: at(0, tokyo)})
			_, err = st.Snapshot(ctx, "repo2", "abc")
			mustNotFound(t, "snapshot abc of another repository", err)
			_, err = st.Snapshot(ctx, "repo1", "def")
			mustNotFound(t, "snapshot def", err)
		}},
		{"RoundTrip", func(t *testing.T) {
			st := s.store(t)
			want := catalog.SnapshotRow{Repository: "onprem", SnapshotID: "abc123", Job: "nightly", Source: "db",
				Time: at(0, tokyo), Record: json.RawMessage(`{"run_id": "r1", "bytes":12}`)}
			putSnapshots(t, st, want)
			got, err := st.Snapshot(ctx, "onprem", "abc123")
			if err != nil || !reflect.DeepEqual(got, want) {
				t.Fatalf("snapshot = %s, %v; want %s", show(got), err, show(want))
			}
		}},
		{"PutUpserts", func(t *testing.T) {
			st := s.store(t)
			first := catalog.SnapshotRow{Repository: "onprem", SnapshotID: "abc", Job: "nightly", Source: "db",
				Time: at(0, tokyo), Record: json.RawMessage(`{"copies":0}`)}
			putSnapshots(t, st, first, first)
			later := catalog.SnapshotRow{Repository: "onprem", SnapshotID: "abc", Job: "other", Source: "other",
				Time: at(time.Hour, tokyo), Record: json.RawMessage(`{"copies":2}`)}
			putSnapshots(t, st, later)
			want := first
			want.Record = later.Record
			got, err := st.Snapshot(ctx, "onprem", "abc")
			if err != nil || !reflect.DeepEqual(got, want) {
				t.Fatalf("snapshot after upsert = %s, %v; want %s", show(got), err, show(want))
			}
			rs, err := st.JobSnapshots(ctx, "nightly")
			wantIDs(t, "job snapshots after upsert", snapIDs(rs), err, "onprem/abc")
			// The same ID in another repository is another row.
			putSnapshots(t, st, catalog.SnapshotRow{Repository: "offsite", SnapshotID: "abc", Job: "nightly", Source: "db", Time: at(2*time.Hour, tokyo)})
			rs, err = st.JobSnapshots(ctx, "nightly")
			wantIDs(t, "job snapshots in two repositories", snapIDs(rs), err, "offsite/abc", "onprem/abc")
		}},
		{"DeleteSnapshot", func(t *testing.T) {
			st := s.store(t)
			putSnapshots(t, st,
				catalog.SnapshotRow{Repository: "repo1", SnapshotID: "a", Job: "j", Source: "s", Time: at(0, tokyo)},
				catalog.SnapshotRow{Repository: "repo1", SnapshotID: "b", Job: "j", Source: "s", Time: at(time.Hour, tokyo)},
			)
			putManifests(t, st,
				catalog.ManifestRow{SnapshotID: "a", Source: "s", Kind: "path", SHA256: "sha-a"},
				catalog.ManifestRow{SnapshotID: "b", Source: "s", Kind: "path", SHA256: "sha-b"},
			)
			if err := st.DeleteSnapshot(ctx, "repo1", "a"); err != nil {
				t.Fatalf("delete snapshot: %v", err)
			}
			_, err := st.Snapshot(ctx, "repo1", "a")
			mustNotFound(t, "deleted snapshot", err)
			_, err = st.Manifest(ctx, "a")
			mustNotFound(t, "manifest of a deleted snapshot", err)
			if r, err := st.Snapshot(ctx, "repo1", "b"); err != nil || r.SnapshotID != "b" {
				t.Fatalf("other snapshot after delete = %s, %v", show(r), err)
			}
			if m, err := st.Manifest(ctx, "b"); err != nil || m.SHA256 != bodySum("sha-b") {
				t.Fatalf("other manifest after delete = %s, %v", show(m), err)
			}
			rs, err := st.JobSnapshots(ctx, "j")
			wantIDs(t, "job snapshots after delete", snapIDs(rs), err, "repo1/b")
			for _, id := range []string{"a", "missing"} {
				if err := st.DeleteSnapshot(ctx, "repo1", id); err != nil {
					t.Fatalf("delete of missing snapshot %s: %v", id, err)
				}
			}
		}},
		{"JobSnapshots", func(t *testing.T) {
			st := s.store(t)
			putSnapshots(t, st,
				catalog.SnapshotRow{Repository: "repo1", SnapshotID: "s1", Job: "j", Source: "a", Time: at(1*time.Hour, tokyo)},
				catalog.SnapshotRow{Repository: "repo2", SnapshotID: "s3", Job: "j", Source: "b", Time: at(3*time.Hour, tokyo)},
				catalog.SnapshotRow{Repository: "repo1", SnapshotID: "s2", Job: "j", Source: "a", Time: at(2*time.Hour, tokyo)},
				catalog.SnapshotRow{Repository: "repo1", SnapshotID: "k1", Job: "k", Source: "a", Time: at(4*time.Hour, tokyo)},
			)
			rs, err := st.JobSnapshots(ctx, "j")
			wantIDs(t, "job j snapshots", snapIDs(rs), err, "repo2/s3", "repo1/s2", "repo1/s1")
			rs, err = st.JobSnapshots(ctx, "k")
			wantIDs(t, "job k snapshots", snapIDs(rs), err, "repo1/k1")
			rs, err = st.JobSnapshots(ctx, "none")
			wantIDs(t, "snapshots of an unknown job", snapIDs(rs), err)
		}},
	}
}

// ---- manifests ----

func (s suite) manifestTests() []subtest {
	return []subtest{
		{"ManifestNotFound", func(t *testing.T) {
			st := s.store(t)
			_, err := st.Manifest(ctx, "abc")
			mustNotFound(t, "manifest of an empty store", err)
			putManifests(t, st, catalog.ManifestRow{SnapshotID: "abc", Source: "s", Kind: "path", SHA256: "x"})
			_, err = st.Manifest(ctx, "def")
			mustNotFound(t, "manifest def", err)
		}},
		{"RoundTrip", func(t *testing.T) {
			st := s.store(t)
			// Bigger than a chunk, with every byte value and little to
			// compress.
			body := make([]byte, 3<<20+17)
			x := uint32(1)
			for i := range body {
				x = x*1664525 + 1013904223
				body[i] = byte(x >> 24)
			}
			want := catalog.ManifestRow{SnapshotID: "abc", Source: "db", Kind: "pgdump", SHA256: hexSum(body)}
			if err := st.PutManifest(ctx, want, bytes.NewReader(body)); err != nil {
				t.Fatal(err)
			}
			got, err := st.Manifest(ctx, "abc")
			if err != nil || !reflect.DeepEqual(got, want) {
				t.Fatalf("manifest = %s, %v; want %s", show(got), err, show(want))
			}
			b, err := readBody(t, st, want.SHA256)
			if err != nil || !bytes.Equal(b, body) {
				t.Fatalf("body read back: %d bytes, equal %v, %v", len(b), bytes.Equal(b, body), err)
			}
			_, err = st.ManifestBody(ctx, hexSum([]byte("other")))
			mustNotFound(t, "body never stored", err)
		}},
		{"PutUpserts", func(t *testing.T) {
			st := s.store(t)
			first := catalog.ManifestRow{SnapshotID: "abc", Source: "db", Kind: "pgdump", SHA256: "old"}
			putManifests(t, st, first, first)
			putManifests(t, st, catalog.ManifestRow{SnapshotID: "abc", Source: "other", Kind: "path", SHA256: "new"})
			want := first
			want.SHA256 = bodySum("new")
			got, err := st.Manifest(ctx, "abc")
			if err != nil || !reflect.DeepEqual(got, want) {
				t.Fatalf("manifest after upsert = %s, %v; want %s", show(got), err, show(want))
			}
			// The old body is named by no manifest now: it is gone.
			_, err = st.ManifestBody(ctx, bodySum("old"))
			mustNotFound(t, "body no manifest names", err)
		}},
		{"BodyStoredOnce", func(t *testing.T) {
			st := s.store(t)
			putManifests(t, st, catalog.ManifestRow{SnapshotID: "a", Source: "s", Kind: "path", SHA256: "same"})
			// A second snapshot names the stored body without giving it.
			b := catalog.ManifestRow{SnapshotID: "b", Source: "s", Kind: "path", SHA256: bodySum("same")}
			if err := st.PutManifest(ctx, b, nil); err != nil {
				t.Fatalf("put a manifest naming a stored body: %v", err)
			}
			// A given body is not read when it is stored already.
			c := catalog.ManifestRow{SnapshotID: "c", Source: "s", Kind: "path", SHA256: bodySum("same")}
			if err := st.PutManifest(ctx, c, iotest.ErrReader(errors.New("read"))); err != nil {
				t.Fatalf("put with a stored body read it: %v", err)
			}
			for _, id := range []string{"a", "c"} {
				if err := st.DeleteManifest(ctx, id); err != nil {
					t.Fatal(err)
				}
			}
			if body, err := readBody(t, st, bodySum("same")); err != nil || string(body) != "body of same" {
				t.Fatalf("body while b names it = %q, %v", body, err)
			}
			if n, err := st.CountManifests(ctx); err != nil || n != 1 {
				t.Fatalf("manifests counted while b names the body: %d, %v; want 1", n, err)
			}
			if err := st.DeleteManifest(ctx, "b"); err != nil {
				t.Fatal(err)
			}
			if n, err := st.CountManifests(ctx); err != nil || n != 0 {
				t.Fatalf("manifests counted after the last was deleted: %d, %v; want 0", n, err)
			}
			putManifests(t, st, catalog.ManifestRow{SnapshotID: "x", Source: "s", Kind: "path", SHA256: "x"},
				catalog.ManifestRow{SnapshotID: "y", Source: "s", Kind: "path", SHA256: "y"})
			if n, err := st.PurgeManifests(ctx); err != nil || n != 2 {
				t.Fatalf("purge: %d, %v; want 2", n, err)
			}
			if n, err := st.CountManifests(ctx); err != nil || n != 0 {
				t.Fatalf("manifests after the purge: %d, %v", n, err)
			}
			if _, err := st.ManifestBody(ctx, bodySum("x")); !errors.Is(err, catalog.ErrNotFound) {
				t.Fatalf("a body after the purge: %v", err)
			}
			_, err := st.ManifestBody(ctx, bodySum("same"))
			mustNotFound(t, "body after its last manifest was deleted", err)
			// Naming a body that is not stored, without one, fails.
			if err := st.PutManifest(ctx, b, nil); err == nil {
				t.Fatal("put naming an unknown body without one: no error")
			}
			_, err = st.Manifest(ctx, "b")
			mustNotFound(t, "manifest whose put failed", err)
		}},
		{"BodyMustMatchSHA256", func(t *testing.T) {
			st := s.store(t)
			m := catalog.ManifestRow{SnapshotID: "a", Source: "s", Kind: "path", SHA256: bodySum("promised")}
			err := st.PutManifest(ctx, m, strings.NewReader("body of something else"))
			if !errors.Is(err, catalog.ErrManifestSHA256) {
				t.Fatalf("put with a body of another SHA-256: %v, want ErrManifestSHA256", err)
			}
			_, err = st.Manifest(ctx, "a")
			mustNotFound(t, "manifest whose body did not match", err)
			_, err = st.ManifestBody(ctx, bodySum("promised"))
			mustNotFound(t, "body that did not match", err)
		}},
		{"LatestManifest", func(t *testing.T) {
			st := s.store(t)
			putSnapshots(t, st,
				catalog.SnapshotRow{Repository: "repo1", SnapshotID: "s1", Job: "j", Source: "src", Time: at(1*time.Hour, tokyo)},
				catalog.SnapshotRow{Repository: "repo1", SnapshotID: "s3", Job: "j", Source: "src", Time: at(3*time.Hour, tokyo)},
				catalog.SnapshotRow{Repository: "repo1", SnapshotID: "s2", Job: "j", Source: "src", Time: at(2*time.Hour, tokyo)},
				catalog.SnapshotRow{Repository: "repo1", SnapshotID: "t4", Job: "j", Source: "src2", Time: at(4*time.Hour, tokyo)},
				catalog.SnapshotRow{Repository: "repo2", SnapshotID: "s5", Job: "j", Source: "src", Time: at(5*time.Hour, tokyo)},
				// Newest of all in repo1, but without a manifest.
				catalog.SnapshotRow{Repository: "repo1", SnapshotID: "s6", Job: "j", Source: "src", Time: at(6*time.Hour, tokyo)},
			)
			putManifests(t, st,
				catalog.ManifestRow{SnapshotID: "s1", Source: "src", Kind: "path", SHA256: "1"},
				catalog.ManifestRow{SnapshotID: "s3", Source: "src", Kind: "path", SHA256: "3"},
				catalog.ManifestRow{SnapshotID: "s2", Source: "src", Kind: "path", SHA256: "2"},
				catalog.ManifestRow{SnapshotID: "t4", Source: "src2", Kind: "path", SHA256: "4"},
				catalog.ManifestRow{SnapshotID: "s5", Source: "src", Kind: "path", SHA256: "5"},
				// A manifest with no snapshot row at all.
				catalog.ManifestRow{SnapshotID: "s7", Source: "src", Kind: "path", SHA256: "7"},
			)
			latest := func(repo, source string) string {
				t.Helper()
				m, err := st.LatestManifest(ctx, repo, source)
				if err != nil {
					t.Fatalf("latest manifest of %s in %s: %v", source, repo, err)
				}
				return m.SnapshotID
			}
			if got := latest("repo1", "src"); got != "s3" {
				t.Fatalf("latest manifest of src in repo1 = %s, want s3", got)
			}
			m, err := st.LatestManifest(ctx, "repo1", "src")
			if err != nil || m.Source != "src" || m.Kind != "path" || m.SHA256 != bodySum("3") {
				t.Fatalf("latest manifest = %s, %v", show(m), err)
			}
			if got := latest("repo1", "src2"); got != "t4" {
				t.Fatalf("latest manifest of src2 in repo1 = %s, want t4", got)
			}
			if got := latest("repo2", "src"); got != "s5" {
				t.Fatalf("latest manifest of src in repo2 = %s, want s5", got)
			}
			_, err = st.LatestManifest(ctx, "repo1", "nosource")
			mustNotFound(t, "latest manifest of an unknown source", err)
			_, err = st.LatestManifest(ctx, "repo3", "src")
			mustNotFound(t, "latest manifest in an unknown repository", err)
			// Without s3's manifest, the next newest is picked.
			if err := st.DeleteManifest(ctx, "s3"); err != nil {
				t.Fatal(err)
			}
			if got := latest("repo1", "src"); got != "s2" {
				t.Fatalf("latest manifest of src in repo1 after deleting s3's = %s, want s2", got)
			}
		}},
		{"DeleteManifest", func(t *testing.T) {
			st := s.store(t)
			putSnapshots(t, st, catalog.SnapshotRow{Repository: "repo1", SnapshotID: "a", Job: "j", Source: "s", Time: at(0, tokyo)})
			putManifests(t, st,
				catalog.ManifestRow{SnapshotID: "a", Source: "s", Kind: "path", SHA256: "sha-a"},
				catalog.ManifestRow{SnapshotID: "b", Source: "s", Kind: "path", SHA256: "sha-b"},
			)
			if err := st.DeleteManifest(ctx, "a"); err != nil {
				t.Fatalf("delete manifest: %v", err)
			}
			_, err := st.Manifest(ctx, "a")
			mustNotFound(t, "deleted manifest", err)
			if r, err := st.Snapshot(ctx, "repo1", "a"); err != nil || r.SnapshotID != "a" {
				t.Fatalf("snapshot row after deleting its manifest = %s, %v", show(r), err)
			}
			if m, err := st.Manifest(ctx, "b"); err != nil || m.SHA256 != bodySum("sha-b") {
				t.Fatalf("other manifest after delete = %s, %v", show(m), err)
			}
			for _, id := range []string{"a", "missing"} {
				if err := st.DeleteManifest(ctx, id); err != nil {
					t.Fatalf("delete of missing manifest %s: %v", id, err)
				}
			}
		}},
	}
}

// ---- drills ----

func putDrills(t *testing.T, st catalog.Store, rs ...catalog.DrillRow) {
	t.Helper()
	for _, r := range rs {
		if r.Record == nil {
			r.Record = json.RawMessage(`{}`)
		}
		if err := st.PutDrill(ctx, r); err != nil {
			t.Fatalf("put drill %s: %v", r.ID, err)
		}
	}
}

func (s suite) drillTests() []subtest {
	return []subtest{
		{"DrillNotFound", func(t *testing.T) {
			st := s.store(t)
			_, err := st.Drill(ctx, "d1")
			mustNotFound(t, "drill of an empty store", err)
			putDrills(t, st, catalog.DrillRow{ID: "d1", Job: "j", Started: at(0, tokyo)})
			_, err = st.Drill(ctx, "d2")
			mustNotFound(t, "drill d2", err)
		}},
		{"RoundTrip", func(t *testing.T) {
			st := s.store(t)
			want := catalog.DrillRow{ID: "d1", Job: "nightly", Started: at(0, tokyo), Finished: at(time.Minute, tokyo),
				Result: "passed", Record: json.RawMessage(`{"rto_seconds": 60, "subset":"1/4"}`)}
			putDrills(t, st, want)
			got, err := st.Drill(ctx, "d1")
			if err != nil || !reflect.DeepEqual(got, want) {
				t.Fatalf("drill = %s, %v; want %s", show(got), err, show(want))
			}
		}},
		{"PutUpserts", func(t *testing.T) {
			st := s.store(t)
			first := catalog.DrillRow{ID: "d1", Job: "nightly", Started: at(0, tokyo), Record: json.RawMessage(`{"step":1}`)}
			putDrills(t, st, first, first)
			later := catalog.DrillRow{ID: "d1", Job: "other", Started: at(time.Hour, tokyo), Finished: at(2*time.Hour, tokyo),
				Result: "failed", Record: json.RawMessage(`{"step":9}`)}
			putDrills(t, st, later)
			want := first
			want.Finished, want.Result, want.Record = later.Finished, later.Result, later.Record
			got, err := st.Drill(ctx, "d1")
			if err != nil || !reflect.DeepEqual(got, want) {
				t.Fatalf("drill after upsert = %s, %v; want %s", show(got), err, show(want))
			}
			rs, err := st.Drills(ctx, 0)
			wantIDs(t, "drills after upsert", drillIDs(rs), err, "d1")
		}},
		{"DrillsNewestFirst", func(t *testing.T) {
			st := s.store(t)
			rs, err := st.Drills(ctx, 0)
			wantIDs(t, "drills of an empty store", drillIDs(rs), err)
			putDrills(t, st,
				catalog.DrillRow{ID: "d1", Job: "j", Started: at(1*time.Hour, tokyo), Result: "passed"},
				catalog.DrillRow{ID: "d2", Job: "j", Started: at(3*time.Hour, tokyo)},
				catalog.DrillRow{ID: "d3", Job: "k", Started: at(2*time.Hour, tokyo), Result: "failed"},
				// Started together with d2: ties go by descending ID.
				catalog.DrillRow{ID: "d4", Job: "j", Started: at(3*time.Hour, tokyo), Result: "passed"},
			)
			for _, c := range []struct {
				limit int
				want  []string
			}{
				{0, []string{"d4", "d2", "d3", "d1"}},
				{-1, []string{"d4", "d2", "d3", "d1"}},
				{1, []string{"d4"}},
				{2, []string{"d4", "d2"}},
				{3, []string{"d4", "d2", "d3"}},
				{10, []string{"d4", "d2", "d3", "d1"}},
			} {
				rs, err := st.Drills(ctx, c.limit)
				wantIDs(t, fmt.Sprintf("drills limit %d", c.limit), drillIDs(rs), err, c.want...)
			}
		}},
		{"DrillsWithResult", func(t *testing.T) {
			st := s.store(t)
			putDrills(t, st,
				catalog.DrillRow{ID: "late", Job: "j", Started: at(3*time.Hour, tokyo)},
				catalog.DrillRow{ID: "early", Job: "j", Started: at(1*time.Hour, tokyo)},
				catalog.DrillRow{ID: "passed-2", Job: "j", Started: at(5*time.Hour, tokyo), Result: "passed"},
				catalog.DrillRow{ID: "passed-1", Job: "k", Started: at(4*time.Hour, tokyo), Result: "passed"},
				catalog.DrillRow{ID: "failed", Job: "j", Started: at(2*time.Hour, tokyo), Result: "failed"},
			)
			rs, err := st.DrillsWithResult(ctx, "")
			wantIDs(t, `drills with result ""`, drillIDs(rs), err, "early", "late")
			rs, err = st.DrillsWithResult(ctx, "passed")
			wantIDs(t, "passed drills", drillIDs(rs), err, "passed-1", "passed-2")
			rs, err = st.DrillsWithResult(ctx, "failed")
			wantIDs(t, "failed drills", drillIDs(rs), err, "failed")
			rs, err = st.DrillsWithResult(ctx, "interrupted")
			wantIDs(t, "interrupted drills", drillIDs(rs), err)
		}},
	}
}

// ---- the store as a whole ----

func (s suite) storeTests() []subtest {
	return []subtest{
		{"SchemaVersion", func(t *testing.T) {
			st := s.store(t)
			v, err := st.SchemaVersion(ctx)
			if err != nil || v < 1 {
				t.Fatalf("schema version of a new store = %d, %v; want at least 1", v, err)
			}
		}},
		{"EmptyLists", func(t *testing.T) {
			st := s.store(t)
			rs, err := st.RunsWithResult(ctx, "repo", "")
			wantIDs(t, "runs with result", runIDs(rs), err)
			rs, err = st.JobRuns(ctx, "j", 0)
			wantIDs(t, "job runs", runIDs(rs), err)
			rs, err = st.RunsStartedBetween(ctx, time.Time{}, base.Add(100*365*24*time.Hour))
			wantIDs(t, "runs started between", runIDs(rs), err)
			ss, err := st.JobSnapshots(ctx, "j")
			wantIDs(t, "job snapshots", snapIDs(ss), err)
			_, err = st.LatestManifest(ctx, "repo", "src")
			mustNotFound(t, "latest manifest", err)
			ds, err := st.Drills(ctx, 0)
			wantIDs(t, "drills", drillIDs(ds), err)
			ds, err = st.DrillsWithResult(ctx, "")
			wantIDs(t, "drills with result", drillIDs(ds), err)
		}},
		{"Close", func(t *testing.T) {
			st := s.open(t) // closed here, not by a cleanup
			if st == nil {
				t.Fatal("open returned a nil store")
			}
			if err := st.Close(); err != nil {
				t.Fatalf("close: %v", err)
			}
			if _, err := st.Get(ctx, "k"); err == nil || errors.Is(err, catalog.ErrNotFound) {
				t.Fatalf("get after close: err = %v, want a failure other than ErrNotFound", err)
			}
			if err := st.PutRun(ctx, catalog.RunRow{ID: "r", Job: "j", Source: "s", Repository: "r", Started: at(0, tokyo), Record: json.RawMessage(`{}`)}); err == nil {
				t.Fatal("put run after close succeeded")
			}
		}},
	}
}

// ---- erase plans and journals ----

func (s suite) eraseTests() []subtest {
	return []subtest{
		{"PlanRoundTripAndUpsert", func(t *testing.T) {
			st := s.store(t)
			_, err := st.ErasePlan(ctx, "p1")
			mustNotFound(t, "plan of an empty store", err)
			first := catalog.ErasePlanRow{ID: "p1", Created: at(0, tokyo), Status: "planned", Record: json.RawMessage(`{"a":1}`)}
			if err := st.PutErasePlan(ctx, first); err != nil {
				t.Fatal(err)
			}
			later := catalog.ErasePlanRow{ID: "p1", Created: at(time.Hour, tokyo), Status: "approved", Record: json.RawMessage(`{"a":2}`)}
			if err := st.PutErasePlan(ctx, later); err != nil {
				t.Fatal(err)
			}
			want := first
			want.Status, want.Record = later.Status, later.Record
			got, err := st.ErasePlan(ctx, "p1")
			if err != nil || !reflect.DeepEqual(got, want) {
				t.Fatalf("plan after upsert = %s, %v; want %s", show(got), err, show(want))
			}
			if err := st.PutErasePlan(ctx, catalog.ErasePlanRow{ID: "p2", Created: at(2*time.Hour, tokyo), Status: "planned", Record: json.RawMessage(`{}`)}); err != nil {
				t.Fatal(err)
			}
			all, err := st.ErasePlans(ctx)
			if err != nil || len(all) != 2 || all[0].ID != "p2" || all[1].ID != "p1" {
				t.Fatalf("plans = %s, %v; want p2, p1", show(all), err)
			}
		}},
		{"Journal", func(t *testing.T) {
			st := s.store(t)
			if j, err := st.Journal(ctx, "none"); err != nil || len(j) != 0 {
				t.Fatalf("journal of an unknown plan = %s, %v", show(j), err)
			}
			for _, j := range []catalog.JournalRow{
				{PlanID: "p1", Step: 2, Name: "freeze", Started: at(time.Minute, tokyo)},
				{PlanID: "p1", Step: 1, Name: "inventory", Started: at(0, tokyo), Finished: at(time.Second, tokyo), Result: "done", Evidence: json.RawMessage(`{"n":1}`)},
				{PlanID: "p2", Step: 1, Name: "inventory", Started: at(0, tokyo)},
			} {
				if err := st.PutJournal(ctx, j); err != nil {
					t.Fatal(err)
				}
			}
			done := catalog.JournalRow{PlanID: "p1", Step: 2, Name: "freeze", Started: at(time.Minute, tokyo), Finished: at(2*time.Minute, tokyo), Result: "done", Evidence: json.RawMessage(`{"frozen":true}`)}
			if err := st.PutJournal(ctx, done); err != nil {
				t.Fatal(err)
			}
			j, err := st.Journal(ctx, "p1")
			if err != nil || len(j) != 2 || j[0].Name != "inventory" || j[0].Result != "done" || string(j[0].Evidence) != `{"n":1}` || !reflect.DeepEqual(j[1], done) {
				t.Fatalf("journal of p1 = %s, %v", show(j), err)
			}
		}},
	}
}

// ---- operator accounts ----

func (s suite) operatorTests() []subtest {
	row := func(name, role string) catalog.OperatorRow {
		return catalog.OperatorRow{Name: name, Role: role, Hash: "$argon2id$v=19$m=8,t=1,p=1$c2FsdA$aGFzaA", Created: at(0, tokyo),
			Updated: at(0, tokyo), PasswordChanged: at(0, tokyo)}
	}
	return []subtest{
		{"RoundTripAndUpsert", func(t *testing.T) {
			st := s.store(t)
			_, err := st.Operator(ctx, "alice")
			mustNotFound(t, "operator of an empty store", err)
			if all, err := st.Operators(ctx); err != nil || len(all) != 0 {
				t.Fatalf("operators of an empty store = %s, %v", show(all), err)
			}
			first := row("alice", "admin")
			if err := st.PutOperator(ctx, first); err != nil {
				t.Fatal(err)
			}
			got, err := st.Operator(ctx, "alice")
			if err != nil || !reflect.DeepEqual(got, first) {
				t.Fatalf("operator = %s, %v; want %s", show(got), err, show(first))
			}
			later := catalog.OperatorRow{Name: "alice", Role: "auditor", Hash: "h2", Disabled: true, Failures: 3,
				LockedUntil: at(time.Hour, newYork), Created: at(time.Second, tokyo), Updated: at(time.Minute, tokyo), PasswordChanged: at(time.Minute, tokyo)}
			if err := st.PutOperator(ctx, later); err != nil {
				t.Fatal(err)
			}
			got, err = st.Operator(ctx, "alice")
			if err != nil || !reflect.DeepEqual(got, later) {
				t.Fatalf("operator after upsert = %s, %v; want %s", show(got), err, show(later))
			}
		}},
		{"ListedByName", func(t *testing.T) {
			st := s.store(t)
			for _, n := range []string{"carol", "alice", "bob"} {
				if err := st.PutOperator(ctx, row(n, "operator")); err != nil {
					t.Fatal(err)
				}
			}
			all, err := st.Operators(ctx)
			var names []string
			for _, o := range all {
				names = append(names, o.Name)
			}
			wantIDs(t, "operators", names, err, "alice", "bob", "carol")
		}},
		{"Update", func(t *testing.T) {
			st := s.store(t)
			_, err := st.UpdateOperator(ctx, "nobody", func(*catalog.OperatorRow) error {
				t.Error("fn called for an unknown operator")
				return nil
			})
			mustNotFound(t, "update of an unknown operator", err)
			if err := st.PutOperator(ctx, row("alice", "operator")); err != nil {
				t.Fatal(err)
			}
			got, err := st.UpdateOperator(ctx, "alice", func(o *catalog.OperatorRow) error {
				o.Failures = 5
				o.LockedUntil = at(time.Hour, tokyo)
				return nil
			})
			if err != nil || got.Failures != 5 || got.LockedUntil != at(time.Hour, tokyo) {
				t.Fatalf("update returned %s, %v", show(got), err)
			}
			stored, err := st.Operator(ctx, "alice")
			if err != nil || !reflect.DeepEqual(stored, got) {
				t.Fatalf("stored %s, %v; update returned %s", show(stored), err, show(got))
			}
			// A failing fn stores nothing.
			_, err = st.UpdateOperator(ctx, "alice", func(o *catalog.OperatorRow) error {
				o.Failures = 99
				return errBuild
			})
			if !errors.Is(err, errBuild) {
				t.Fatalf("update with a failing fn: err = %v, want %v", err, errBuild)
			}
			if again, _ := st.Operator(ctx, "alice"); again.Failures != 5 {
				t.Fatalf("failing update stored failures %d, want 5", again.Failures)
			}
		}},
		{"ConcurrentUpdatesAllCount", func(t *testing.T) {
			st := s.store(t)
			if err := st.PutOperator(ctx, row("alice", "operator")); err != nil {
				t.Fatal(err)
			}
			const n = 20
			var wg sync.WaitGroup
			errs := make(chan error, n)
			for range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, err := st.UpdateOperator(ctx, "alice", func(o *catalog.OperatorRow) error {
						f := o.Failures
						time.Sleep(time.Millisecond) // widen the window a lost update needs
						o.Failures = f + 1
						return nil
					})
					errs <- err
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			got, err := st.Operator(ctx, "alice")
			if err != nil || got.Failures != n {
				t.Fatalf("after %d concurrent increments failures = %d, %v", n, got.Failures, err)
			}
		}},
	}
}

// ---- claims of scheduled runs ----

func (s suite) scheduleTests() []subtest {
	claim := func(job string, d time.Duration, daemon string) catalog.ClaimRow {
		return catalog.ClaimRow{Job: job, Due: at(d, tokyo), Daemon: daemon, Claimed: at(d+time.Second, tokyo)}
	}
	return []subtest{
		{"ClaimOnce", func(t *testing.T) {
			st := s.store(t)
			ok, err := st.ClaimRun(ctx, claim("backup:a", 0, "host1"))
			if err != nil || !ok {
				t.Fatalf("first claim = %v, %v; want true", ok, err)
			}
			ok, err = st.ClaimRun(ctx, claim("backup:a", 0, "host2"))
			if err != nil || ok {
				t.Fatalf("second claim of the same run = %v, %v; want false", ok, err)
			}
			// Another due time, another job: claims of their own.
			for _, c := range []catalog.ClaimRow{claim("backup:a", time.Minute, "host2"), claim("backup:b", 0, "host2")} {
				if ok, err := st.ClaimRun(ctx, c); err != nil || !ok {
					t.Fatalf("claim %s = %v, %v; want true", show(c), ok, err)
				}
			}
			got, err := st.Claims(ctx, "backup:a", 0)
			want := []catalog.ClaimRow{claim("backup:a", time.Minute, "host2"), claim("backup:a", 0, "host1")}
			if err != nil || !reflect.DeepEqual(got, want) {
				t.Fatalf("claims = %s, %v; want %s (the first claim kept, newest first)", show(got), err, show(want))
			}
			got, err = st.Claims(ctx, "backup:a", 1)
			if err != nil || len(got) != 1 || got[0].Due != at(time.Minute, tokyo) {
				t.Fatalf("claims limit 1 = %s, %v", show(got), err)
			}
			got, err = st.Claims(ctx, "none", 0)
			if err != nil || len(got) != 0 {
				t.Fatalf("claims of an unknown job = %s, %v", show(got), err)
			}
		}},
		{"ConcurrentClaims", func(t *testing.T) {
			st := s.store(t)
			var wg sync.WaitGroup
			var mu sync.Mutex
			won, errs := 0, []error{}
			for i := range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					ok, err := st.ClaimRun(ctx, claim("drill", 0, fmt.Sprint("host", i)))
					mu.Lock()
					defer mu.Unlock()
					if err != nil {
						errs = append(errs, err)
					}
					if ok {
						won++
					}
				}()
			}
			wg.Wait()
			if len(errs) > 0 || won != 1 {
				t.Fatalf("8 concurrent claims of one run: %d won, errors %v; want exactly 1 and none", won, errs)
			}
		}},
	}
}
