package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
