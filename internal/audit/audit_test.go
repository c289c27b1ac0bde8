package audit

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"steward/internal/catalog"
	"steward/internal/clock"
)

func newLog(t testing.TB, n int) (*Log, *catalog.SQLite, string) {
	t.Helper()
	dir := t.TempDir()
	store, err := catalog.Create(context.Background(), filepath.Join(dir, "catalog.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	loc, _ := clock.LoadZone("Asia/Tokyo")
	fake := clock.NewFake(time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC))
	l := New(store, MirrorPath(dir), clock.New(loc, fake))
	for i := 0; i < n; i++ {
		fake.Advance(time.Second)
		if _, err := l.Append(context.Background(), Entry{Actor: "os:alice", Action: "backup.run", Target: "job:nightly", Result: ResultOK, Details: map[string]string{"i": string(rune('a' + i))}}); err != nil {
			t.Fatal(err)
		}
	}
	return l, store, MirrorPath(dir)
}

func TestAppendChainsAndMirrors(t *testing.T) {
	l, _, mirror := newLog(t, 3)
	rep, err := l.Verify(context.Background())
	if err != nil || !rep.OK() || rep.Records != 3 || rep.HeadSeq != 3 {
		t.Fatalf("verify: %+v, %v", rep, err)
	}
	data, _ := os.ReadFile(mirror)
	if lines := bytes.Count(data, []byte("\n")); lines != 3 {
		t.Fatalf("mirror has %d lines", lines)
	}
	if !strings.Contains(string(data), `"time":"2026-04-01T09:00:01.000+09:00"`) {
		t.Fatalf("mirror time not in configured zone: %s", data)
	}
	if st, _ := os.Stat(mirror); st.Mode().Perm() != 0o600 {
		t.Fatalf("mirror mode %v", st.Mode())
	}
}

func mirrorLines(t *testing.T, path string) [][]byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n"))
}

func writeLines(t *testing.T, path string, lines [][]byte) {
	t.Helper()
	if err := os.WriteFile(path, append(bytes.Join(lines, []byte("\n")), '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyDetectsMirrorTampering(t *testing.T) {
	tests := []struct {
		name    string
		tamper  func([][]byte) [][]byte
		wantSeq int64
	}{
		{"byte changed", func(ls [][]byte) [][]byte {
			i := bytes.Index(ls[2], []byte("nightly"))
			ls[2][i] = 'N'
			return ls
		}, 3},
		{"record removed", func(ls [][]byte) [][]byte { return append(ls[:1], ls[2:]...) }, 2},
		{"last record removed", func(ls [][]byte) [][]byte { return ls[:len(ls)-1] }, 5},
		{"two swapped", func(ls [][]byte) [][]byte { ls[1], ls[2] = ls[2], ls[1]; return ls }, 2},
		{"record inserted", func(ls [][]byte) [][]byte {
			return append(ls[:2], append([][]byte{bytes.Clone(ls[1])}, ls[2:]...)...)
		}, 3},
		{"garbage line", func(ls [][]byte) [][]byte { ls[3] = []byte("{not json"); return ls }, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, _, mirror := newLog(t, 5)
			writeLines(t, mirror, tt.tamper(mirrorLines(t, mirror)))
			rep, err := l.Verify(context.Background())
			if !errors.Is(err, ErrTampered) || rep.OK() {
				t.Fatalf("tampering not detected: %+v, %v", rep, err)
			}
			if rep.Problem.Seq != tt.wantSeq || rep.Problem.Where != "mirror" {
				t.Fatalf("problem %+v, want mirror seq %d", rep.Problem, tt.wantSeq)
			}
		})
	}
}

func TestVerifyEveryByte(t *testing.T) {
	// Changing any single byte of any record in the mirror is detected.
	l, _, mirror := newLog(t, 2)
	orig, _ := os.ReadFile(mirror)
	for i := range orig {
		if orig[i] == '\n' {
			continue
		}
		mod := bytes.Clone(orig)
		mod[i] ^= 0x01
		if err := os.WriteFile(mirror, mod, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := l.Verify(context.Background()); !errors.Is(err, ErrTampered) {
			t.Fatalf("flipping byte %d (%q) not detected", i, orig[i])
		}
	}
}

func TestVerifyDetectsCatalogTampering(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		sql     string
		wantSeq int64
	}{
		{"field edited", `UPDATE audit SET result = 'failed' WHERE seq = 2`, 2},
		{"record deleted", `DELETE FROM audit WHERE seq = 3`, 3},
		{"two swapped", `UPDATE audit SET seq = 100 WHERE seq = 2; UPDATE audit SET seq = 2 WHERE seq = 4; UPDATE audit SET seq = 4 WHERE seq = 100`, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, store, _ := newLog(t, 5)
			if _, err := store.DB().ExecContext(ctx, tt.sql); err != nil {
				t.Fatal(err)
			}
			rep, err := l.Verify(ctx)
			if !errors.Is(err, ErrTampered) || rep.Problem == nil || rep.Problem.Where != "catalog" || rep.Problem.Seq != tt.wantSeq {
				t.Fatalf("problem %+v (%v), want catalog seq %d", rep.Problem, err, tt.wantSeq)
			}
		})
	}
}

func TestEmptyDetailsVerify(t *testing.T) {
	l, _, _ := newLog(t, 0)
	if _, err := l.Append(context.Background(), Entry{Action: "init", Details: map[string]string{}}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Verify(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestHashName(t *testing.T) {
	h := HashName("/srv/kds/case-0001.pdf")
	if strings.Contains(h, "case") || !strings.HasPrefix(h, "sha256:") || len(h) != 39 {
		t.Fatalf("HashName = %q", h)
	}
}

type failingAppender struct{ calls int }

func (f *failingAppender) Append(context.Context, Entry) (Record, error) {
	f.calls++
	return Record{}, errors.New("disk full")
}

func TestRecorder(t *testing.T) {
	var nilRec *Recorder
	nilRec.Record(context.Background(), "a", "t", ResultOK, nil) // must not panic
	NewRecorder(nil, nil).Record(context.Background(), "a", "t", ResultOK, nil)

	f := &failingAppender{}
	NewRecorder(f, nil).Record(context.Background(), "a", "t", ResultOK, nil)
	if f.calls != 1 {
		t.Fatalf("appender called %d times, want 1", f.calls)
	}

	log, s, _ := newLog(t, 0)
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // a cancelled run still gets its record
	NewRecorder(log, nil).Record(ctx, "backup.run", "job:x", ResultFailed, map[string]string{"error": "interrupted"})
	last, err := s.LastAudit(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if last.Action != "backup.run" || last.Result != ResultFailed || last.Details["error"] != "interrupted" {
		t.Fatalf("last record = %+v", last)
	}
}

func TestActorFromContext(t *testing.T) {
	l, _, _ := newLog(t, 0)
	ctx := WithActor(context.Background(), "user:alice")
	rec := NewRecorder(l, nil)
	rec.Record(ctx, "erase.plan", "plan:p1", ResultOK, nil) // a capability's record names no actor
	own, err := l.Append(ctx, Entry{Actor: "system", Action: "auth.lockout", Result: ResultOK})
	if err != nil {
		t.Fatal(err)
	}
	plain, err := l.Append(context.Background(), Entry{Action: "backup.run", Result: ResultOK})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	l.Scan(context.Background(), func(r Record) error { got = append(got, r.Actor); return nil })
	if len(got) != 3 || got[0] != "user:alice" || own.Actor != "system" || plain.Actor != OSActor() {
		t.Fatalf("actors = %q (own %q, plain %q); want user:alice, system, %s", got, own.Actor, plain.Actor, OSActor())
	}
}
