package audit

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"steward/internal/catalog"
	"steward/internal/keys"
)

// records reads the catalog's records.
func records(t *testing.T, l *Log) []Record {
	t.Helper()
	var out []Record
	if err := l.Scan(context.Background(), func(r Record) error { out = append(out, r); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

// cutTail removes the records after seq keep from the catalog and the
// mirror alike.
func cutTail(t *testing.T, store *catalog.SQLite, mirror string, keep int) {
	t.Helper()
	if _, err := store.DB().Exec(`DELETE FROM audit WHERE seq > ?`, keep); err != nil {
		t.Fatal(err)
	}
	writeLines(t, mirror, mirrorLines(t, mirror)[:keep])
}

// rewrite edits record from and recomputes every hash after it, in the
// catalog and the mirror alike: a chain that verifies on its own.
func rewrite(t *testing.T, l *Log, store *catalog.SQLite, mirror string, from int64) {
	t.Helper()
	recs := records(t, l)
	var lines [][]byte
	for i := range recs {
		r := &recs[i]
		if r.Seq == from {
			r.Actor = "os:mallory"
		}
		if r.Seq >= from {
			r.PrevHash = ""
			if i > 0 {
				r.PrevHash = recs[i-1].Hash
			}
			r.Hash = Hash(*r)
			if _, err := store.DB().Exec(`UPDATE audit SET actor = ?, prev_hash = ?, hash = ? WHERE seq = ?`, r.Actor, r.PrevHash, r.Hash, r.Seq); err != nil {
				t.Fatal(err)
			}
		}
		line, _ := json.Marshal(*r)
		lines = append(lines, line)
	}
	writeLines(t, mirror, lines)
}

func TestVerifyHoldsAnchors(t *testing.T) {
	ctx := context.Background()
	t.Run("tail removed from catalog and mirror", func(t *testing.T) {
		l, store, mirror := newLog(t, 6)
		recs := records(t, l)
		anchors := []Anchor{
			{Seq: 4, Hash: recs[3].Hash, Kind: KindReportAnchor, Source: "drill-x.pdf"},
			{Seq: 5, Hash: recs[4].Hash, Kind: KindCheckpoint, Source: "cp5.json"},
			{Seq: 6, Hash: recs[5].Hash, Kind: KindCheckpoint, Source: "cp6.json"},
		}
		cutTail(t, store, mirror, 3)
		if rep, err := l.Verify(ctx); err != nil || !rep.OK() {
			t.Fatalf("without anchors the cut chain verifies (that is the hole anchors close): %+v %v", rep, err)
		}
		rep, err := l.Verify(ctx, anchors...)
		if !errors.Is(err, ErrTampered) || len(rep.Problems) != 2 || rep.Anchors != 3 {
			t.Fatalf("Verify: %v\n%+v", err, rep)
		}
		for i, want := range []string{
			"the log ends at seq 3, but checkpoint cp6.json carries head seq 6 (hash " + recs[5].Hash + "): records 4 to 6 are missing; 2 checkpoints lie beyond the end",
			"the log ends at seq 3, but report anchor drill-x.pdf carries head seq 4 (hash " + recs[3].Hash + "): records 4 to 4 are missing",
		} {
			if p := rep.Problems[i]; p.Seq != 4 || p.Reason != want {
				t.Errorf("problem %d = %+v\nwant reason %s", i, p, want)
			}
		}
	})
	t.Run("chain rewritten in catalog and mirror", func(t *testing.T) {
		l, store, mirror := newLog(t, 5)
		old := records(t, l)
		rewrite(t, l, store, mirror, 2)
		if rep, err := l.Verify(ctx); err != nil || !rep.OK() {
			t.Fatalf("the rewritten chain should verify on its own: %+v %v", rep, err)
		}
		now := records(t, l)
		anchors := []Anchor{
			{Seq: 1, Hash: old[0].Hash, Kind: KindCheckpoint, Source: "cp1.json"},
			{Seq: 3, Hash: old[2].Hash, Kind: KindCheckpoint, Source: "cp3.json"},
			{Seq: 4, Hash: now[3].Hash, Kind: KindReportAnchor, Source: "forged anchor"},
		}
		rep, err := l.Verify(ctx, anchors...)
		if !errors.Is(err, ErrTampered) || len(rep.Problems) != 1 {
			t.Fatalf("Verify: %v\n%+v", err, rep)
		}
		want := "record 3 has hash " + now[2].Hash + ", but checkpoint cp3.json carries hash " + old[2].Hash + " for it: the chain was rewritten at or before seq 3"
		if p := rep.Problems[0]; p.Where != KindCheckpoint || p.Seq != 3 || p.Reason != want {
			t.Fatalf("problem %+v\nwant %s", p, want)
		}
	})
}

func TestReportAnchorOnlyRises(t *testing.T) {
	ctx := context.Background()
	_, store, _ := newLog(t, 0)
	if a, err := ReportAnchor(ctx, store); a != nil || err != nil {
		t.Fatalf("empty catalog: %v %v", a, err)
	}
	for _, seq := range []int64{5, 3, 9, 7} {
		if err := RaiseReportAnchor(ctx, store, Anchor{Seq: seq, Hash: strings.Repeat("a", 64), Source: "r"}); err != nil {
			t.Fatal(err)
		}
	}
	a, err := ReportAnchor(ctx, store)
	if err != nil || a.Seq != 9 || a.Kind != KindReportAnchor {
		t.Fatalf("anchor %+v %v, want seq 9", a, err)
	}
}

func signingKey(t *testing.T) (*x509.Certificate, crypto.Signer) {
	t.Helper()
	dir := t.TempDir()
	crt, key := filepath.Join(dir, "s.crt"), filepath.Join(dir, "s.key")
	cert, err := keys.CreateSigningCertificate(crt, key, keys.SigningSubject{CommonName: "test"}, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	k, err := keys.LoadSigner(key)
	if err != nil {
		t.Fatal(err)
	}
	return cert, k.(crypto.Signer)
}

func TestCheckpoints(t *testing.T) {
	cert, key := signingKey(t)
	dir := filepath.Join(t.TempDir(), "audit-checkpoints")
	h := strings.Repeat("ab", 32)
	p1, err := WriteCheckpoint(dir, 7, h, "2027-03-31T10:00:00+09:00", cert, key)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := WriteCheckpoint(dir, 7, h, "2027-03-31T11:00:00+09:00", cert, key); err != nil || again != p1 {
		t.Fatalf("second checkpoint of one head: %s %v", again, err)
	}
	if st, err := os.Stat(p1); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("checkpoint file: %v %v", st, err)
	}
	if _, err := WriteCheckpoint(dir, 9, strings.Repeat("cd", 32), "2027-03-31T12:00:00+09:00", cert, key); err != nil {
		t.Fatal(err)
	}
	anchors, probs, err := ReadCheckpoints(dir, cert)
	if err != nil || len(probs) != 0 || len(anchors) != 2 || anchors[0].Seq != 7 || anchors[0].Hash != h || anchors[0].Kind != KindCheckpoint {
		t.Fatalf("read: %+v %+v %v", anchors, probs, err)
	}

	// A checkpoint moved to another head no longer verifies.
	data, _ := os.ReadFile(p1)
	os.WriteFile(p1, []byte(strings.Replace(string(data), `"seq": 7`, `"seq": 5`, 1)), 0o600)
	anchors, probs, err = ReadCheckpoints(dir, cert)
	if err != nil || len(anchors) != 1 || len(probs) != 1 || !strings.Contains(probs[0].Reason, "the signature does not verify") || probs[0].Seq != 5 {
		t.Fatalf("altered checkpoint: %+v %+v %v", anchors, probs, err)
	}

	// Checked against another certificate, none does.
	other, _ := signingKey(t)
	anchors, probs, err = ReadCheckpoints(dir, other)
	if err != nil || len(anchors) != 0 || len(probs) != 2 || !strings.Contains(probs[1].Reason, "signed by certificate") {
		t.Fatalf("other certificate: %+v %+v %v", anchors, probs, err)
	}
	// And a key that is not the certificate's does not write one.
	_, otherKey := signingKey(t)
	if _, err := WriteCheckpoint(dir, 10, h, "t", cert, otherKey); err == nil {
		t.Fatal("a checkpoint signed by a key other than the certificate's was written")
	}
	if anchors, probs, err := ReadCheckpoints(filepath.Join(t.TempDir(), "none"), cert); anchors != nil || probs != nil || err != nil {
		t.Fatal("a missing folder holds no checkpoints")
	}
}
