package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestVerifyAuditLog: verify --audit-log passes when the export's chain
// holds the audit head the report carries, and fails when the export
// ends before it or was edited.
func TestVerifyAuditLog(t *testing.T) {
	dir, report := anchoredLog(t) // the report carries head seq 3
	export := filepath.Join(dir, "all.jsonl")
	if code, _, e := stewardRun(t, dir, "", "audit", "export", "-o", export); code != 0 {
		t.Fatalf("audit export: %d %s", code, e)
	}
	lines := bytes.SplitAfter(mustRead(t, export), []byte("\n"))
	write := func(name string, ls [][]byte) string {
		p := filepath.Join(t.TempDir(), name)
		os.WriteFile(p, bytes.Join(ls, nil), 0o600)
		return p
	}
	edited := bytes.Clone(bytes.Join(lines, nil))
	edited = bytes.Replace(edited, []byte(`"action":"audit.verify"`), []byte(`"action":"audit.verifY"`), 1)

	tests := []struct {
		name   string
		export string
		code   int
		want   string
	}{
		{"whole log", export, 0, "ok:                the report's audit-log head (seq 3) is in the audit-log export's chain (seq 1 to 5)"},
		{"from seq 3", write("from3.jsonl", lines[2:]), 0, "is in the audit-log export's chain (seq 3 to 5)"},
		{"ends before the head", write("to2.jsonl", lines[:2]), exitVerify, "the report's audit-log head (seq 3) is not in the audit-log export: the export holds seq 1 to 2, not seq 3"},
		{"edited", write("edited.jsonl", [][]byte{edited}), exitVerify, "the audit-log export is not an intact chain: record 2's hash does not match its content"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, _ := stewardRun(t, t.TempDir(), "", "verify", "--allow-specimen", "--audit-log", tt.export, report)
			if code != tt.code || !strings.Contains(out, tt.want) {
				t.Fatalf("verify --audit-log: exit %d, want %d and %q\n%s", code, tt.code, tt.want, out)
			}
		})
	}
	if code, _, e := stewardRun(t, t.TempDir(), "", "verify", "--audit-log", filepath.Join(dir, "missing.jsonl"), report); code != exitUsage {
		t.Fatalf("a missing --audit-log file: exit %d %s", code, e)
	}
}

// TestVerifyGivesUpOnAParserLoop: a PDF with an array left open before
// endobj sends the PDF reader (github.com/digitorus/pdf v0.1.2) into an
// endless, growing loop (found by certs.FuzzVerify, whose seed it is);
// `steward verify` gives up on it — not verified, exit 3, saying why —
// instead of hanging.
func TestVerifyGivesUpOnAParserLoop(t *testing.T) {
	seed := string(mustRead(t, filepath.Join(repoRoot(t), "certs", "testdata", "fuzz", "FuzzVerify", "2c2756a4549c8d71")))
	_, quoted, _ := strings.Cut(strings.TrimSpace(seed), "\n")
	body, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(quoted, "[]byte("), ")"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	pdf := filepath.Join(dir, "loop.pdf")
	os.WriteFile(pdf, []byte(body), 0o600)
	d := startSteward(t, dir, nil, "verify", "--timeout", "5s", pdf)
	select {
	case <-d.exited:
	case <-time.After(time.Minute):
		t.Fatalf("verify --timeout 5s still running after a minute:\n%s", d.out.String())
	}
	if code := d.cmd.ProcessState.ExitCode(); code != exitVerify || !strings.Contains(d.out.String(), "not verified: reading the PDF") {
		t.Fatalf("verify: exit %d, want %d and why\n%s", code, exitVerify, d.out.String())
	}
}
