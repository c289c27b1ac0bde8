package certs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"steward/internal/audit"
)

// exportLog writes n chained audit records as `steward audit export`
// does, and returns them.
func exportLog(t *testing.T, n int) []audit.Record {
	t.Helper()
	var recs []audit.Record
	prev := ""
	for i := 1; i <= n; i++ {
		r := audit.Record{Seq: int64(i), Time: fmt.Sprintf("2027-03-31T10:%02d:00.000+09:00", i), Actor: "os:sato",
			Action: "backup.run", Target: "job:nightly", Result: audit.ResultOK, PrevHash: prev}
		r.Hash = audit.Hash(r)
		prev = r.Hash
		recs = append(recs, r)
	}
	return recs
}

func writeExport(t *testing.T, recs []audit.Record) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "export.jsonl")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	enc := json.NewEncoder(f)
	for _, r := range recs {
		if err := enc.Encode(r); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

// TestReportCarriesAuditHead: the head a report is rendered with is
// printed on every page and signed into its Keywords; Verify reads it
// back, and with an audit-log export checks that the export's chain holds
// it.
func TestReportCarriesAuditHead(t *testing.T) {
	dir := t.TempDir()
	s, _ := testSigner(t, dir)
	recs := exportLog(t, 5)
	head := &AuditHead{Seq: 4, Hash: recs[3].Hash}
	opts := renderOptions(t)
	opts.AuditHead = head
	path, _, err := WriteSigned(context.Background(), dir, "drill.pdf", func(w io.Writer) (*Rendered, error) {
		return RenderDrillReport(w, fixtureDrill(t), opts)
	}, s)
	if err != nil {
		t.Fatal(err)
	}
	want := "Audit-log head at issue: seq 4 " + head.Hash
	for i, p := range pages(t, path) {
		if !strings.Contains(normalise(p), want) {
			t.Errorf("page %d does not print %q", i+1, want)
		}
	}
	res, err := Verify(context.Background(), path, VerifyOptions{Fingerprint: fingerprint(t, s)})
	if err != nil || res.ReportAuditHead == nil || *res.ReportAuditHead != *head || res.Specimen {
		t.Fatalf("Verify: %v\n%v", err, res)
	}

	rewritten := exportLog(t, 5)
	rewritten[3].Actor = "os:mallory"
	for i := 3; i < 5; i++ {
		if i > 0 {
			rewritten[i].PrevHash = rewritten[i-1].Hash
		}
		rewritten[i].Hash = audit.Hash(rewritten[i])
	}
	edited := exportLog(t, 5)
	edited[2].Result = audit.ResultFailed
	tests := []struct {
		name string
		recs []audit.Record
		fail string
	}{
		{"export holds the head", recs, ""},
		{"export from seq 3", recs[2:], ""},
		{"export ends before the head", recs[:3], "the export holds seq 1 to 3, not seq 4"},
		{"export rewritten after the head", rewritten, "has hash " + rewritten[3].Hash},
		{"export with an edited record", edited, "not an intact chain: record 3's hash does not match"},
		{"export with a record removed", append(append([]audit.Record{}, recs[:2]...), recs[3:]...), "not an intact chain: line 3 holds seq 4 after seq 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Verify(context.Background(), path, VerifyOptions{Fingerprint: fingerprint(t, s), AuditLog: writeExport(t, tt.recs)})
			if tt.fail == "" {
				if err != nil || !strings.Contains(strings.Join(res.Checks, "\n"), "audit-log head (seq 4) is in the audit-log export's chain") {
					t.Fatalf("Verify: %v\n%v", err, res)
				}
				return
			}
			if !errors.Is(err, ErrVerificationFailed) || !strings.Contains(strings.Join(res.Failed, "\n"), tt.fail) {
				t.Fatalf("Verify: %v, want a failed check with %q\n%v", err, tt.fail, res)
			}
		})
	}

	t.Run("report without a head", func(t *testing.T) {
		path, _, err := WriteSigned(context.Background(), t.TempDir(), "old.pdf", func(w io.Writer) (*Rendered, error) {
			return RenderDrillReport(w, fixtureDrill(t), renderOptions(t))
		}, s)
		if err != nil {
			t.Fatal(err)
		}
		res, err := Verify(context.Background(), path, VerifyOptions{AuditLog: writeExport(t, recs)})
		if !errors.Is(err, ErrVerificationFailed) || !strings.Contains(strings.Join(res.Failed, "\n"), "audit-log head is not recorded") {
			t.Fatalf("Verify: %v\n%v", err, res)
		}
	})
	t.Run("malformed head refused", func(t *testing.T) {
		opts := renderOptions(t)
		opts.AuditHead = &AuditHead{Seq: 4, Hash: "abc; steward.specimen=no"}
		if _, err := RenderDrillReport(io.Discard, fixtureDrill(t), opts); !errors.Is(err, ErrInvalidEvidence) {
			t.Fatalf("err = %v, want ErrInvalidEvidence", err)
		}
	})
}
