package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"steward/internal/catalog"
)

// anchoredLog makes a state dir whose log is anchored: init (seq 1), two
// audit verifies (2, 3), a signed report made at head 3 (its record is
// seq 4) and another audit verify (5). It returns the dir and the
// report's file.
func anchoredLog(t *testing.T) (string, string) {
	t.Helper()
	dir := initDemo(t)
	for i := 0; i < 2; i++ {
		if code, out, e := stewardRun(t, dir, "", "audit", "verify"); code != 0 {
			t.Fatalf("audit verify: %d %s %s", code, out, e)
		}
	}
	report := renderSpecimen(t, dir)
	if code, out, e := stewardRun(t, dir, "", "audit", "verify"); code != 0 {
		t.Fatalf("audit verify: %d %s %s", code, out, e)
	}
	if n := len(auditLines(t, dir)); n != 5 {
		t.Fatalf("the log holds %d records, want 5", n)
	}
	return dir, report
}

// withCatalog runs fn on the state dir's catalog.
func withCatalog(t *testing.T, dir string, fn func(*catalog.SQLite)) {
	t.Helper()
	store, err := catalog.Open(context.Background(), filepath.Join(dir, "steward-state", "catalog.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	fn(store)
}

func writeMirror(t *testing.T, dir string, lines [][]byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "steward-state", "audit.jsonl"), append(bytes.Join(lines, []byte("\n")), '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestAuditVerifyDetectsRemovedTail: the last records, removed from the
// catalog and the mirror alike, leave a chain that verifies; the report
// anchor and the signed checkpoints still show the tail is gone.
func TestAuditVerifyDetectsRemovedTail(t *testing.T) {
	for _, tt := range []struct {
		name            string
		dropCheckpoints bool
		want            []string
	}{
		{"checkpoints kept", false, []string{"audit log does NOT verify: 2 problem(s)",
			"- checkpoint: the log ends at seq 2, but checkpoint", "records 3 to 4 are missing",
			"- report anchor: the log ends at seq 2, but report anchor specimen-certificate-DEL-2027-0001-", "records 3 to 3 are missing"}},
		{"checkpoints removed too", true, []string{"audit log does NOT verify: 1 problem(s)",
			"- report anchor: the log ends at seq 2, but report anchor specimen-certificate-DEL-2027-0001-", "carries head seq 3", "records 3 to 3 are missing"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir, report := anchoredLog(t)
			withCatalog(t, dir, func(s *catalog.SQLite) {
				if _, err := s.DB().Exec(`DELETE FROM audit WHERE seq > 2`); err != nil {
					t.Fatal(err)
				}
			})
			writeMirror(t, dir, auditLines(t, dir)[:2])
			if tt.dropCheckpoints {
				os.RemoveAll(filepath.Join(dir, "steward-state", "audit-checkpoints"))
			}
			code, out, _ := stewardRun(t, dir, "", "audit", "verify")
			if code != exitVerify {
				t.Fatalf("audit verify of a log without its tail: exit %d, want %d\n%s", code, exitVerify, out)
			}
			for _, want := range append(tt.want, filepath.Base(report)) {
				if !strings.Contains(out, want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
		})
	}
}

// TestAuditVerifyDetectsRewrittenChain: a chain rewritten from seq 2 on,
// every hash recomputed in the catalog and the mirror, and the report
// anchor moved along with it (it is in the catalog too), verifies as a
// chain; the signed checkpoints outside the catalog do not agree.
func TestAuditVerifyDetectsRewrittenChain(t *testing.T) {
	dir, _ := anchoredLog(t)
	recs := rewriteChain(t, dir)
	code, out, _ := stewardRun(t, dir, "", "audit", "verify")
	if code != exitVerify {
		t.Fatalf("audit verify of a rewritten chain: exit %d, want %d\n%s", code, exitVerify, out)
	}
	for _, want := range []string{"audit log does NOT verify: 1 problem(s)", "- checkpoint: record 2 has hash " + recs[1].Hash,
		"the chain was rewritten at or before seq 2", "2 checkpoints disagree with the log"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// TestAuditVerifyChecksCheckpoints: an untouched log verifies, holds its
// anchors and gets a signed checkpoint; a checkpoint moved to another head
// fails its signature.
func TestAuditVerifyChecksCheckpoints(t *testing.T) {
	dir, _ := anchoredLog(t)
	code, out, _ := stewardRun(t, dir, "", "audit", "verify")
	if code != 0 || !strings.Contains(out, "audit log OK: 5 records, head seq 5") || !strings.Contains(out, "4 anchor(s) held") {
		t.Fatalf("audit verify: %d\n%s", code, out)
	}
	cps, _ := filepath.Glob(filepath.Join(dir, "steward-state", "audit-checkpoints", "*.json"))
	if len(cps) != 4 {
		t.Fatalf("%d checkpoints (%v), want 4: heads 1, 2, 4 (after the report; the next verify's is the same file) and 5", len(cps), cps)
	}
	data := mustRead(t, cps[0])
	os.WriteFile(cps[0], bytes.Replace(data, []byte(`"seq": 1,`), []byte(`"seq": 2,`), 1), 0o600)
	code, out, _ = stewardRun(t, dir, "", "audit", "verify")
	if code != exitVerify || !strings.Contains(out, "the signature does not verify: the checkpoint was altered or forged") {
		t.Fatalf("audit verify with an altered checkpoint: exit %d\n%s", code, out)
	}
}

// TestAuditExportToPipe: `steward audit export` writes to a pipe (as in
// `steward audit export | jq`), not only to a file: its standard output
// cannot be synced, and that is no error. Each line is a record.
func TestAuditExportToPipe(t *testing.T) {
	dir := initDemo(t)
	d := startSteward(t, dir, nil, "audit", "export")
	<-d.exited
	if d.err != nil {
		t.Fatalf("audit export into a pipe: %v\n%s", d.err, d.out.String())
	}
	if out := d.out.String(); !strings.Contains(out, `"action":"steward.init"`) {
		t.Fatalf("audit export into a pipe printed:\n%s", out)
	}
}
