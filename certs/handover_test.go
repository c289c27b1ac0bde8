package certs

import (
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

func fixtureHandover(t *testing.T) *HandoverReceipt {
	t.Helper()
	return &HandoverReceipt{
		ExportID: "HO-20270331T100000-a1b2c3", Contract: "K-2024-017", Customer: "サンプル市", Operator: "os:yamada",
		Started: at(10, 0), Finished: at(10, 42), Manifest: "handover-manifest.json",
		ManifestSHA256: strings.Repeat("ab", 32), Files: 1204, Bytes: 3<<30 + 12345,
		Sources: []HandoverSourceR{
			{Job: "nightly", Source: "consult", Kind: "postgres", Repository: "primary-repo", SnapshotID: "4f1c2b9a" + strings.Repeat("0", 56),
				SnapshotTime: at(2, 0), Items: 37, DataBytes: 700 << 20, Files: 2, Bytes: 2100 << 20},
			{Job: "nightly", Source: "case-files", Kind: "s3", Repository: "primary-repo", SnapshotID: "77aa01bc" + strings.Repeat("1", 56),
				SnapshotTime: at(2, 5).Add(-24 * time.Hour), Items: 1201, DataBytes: 900 << 20, Files: 1201, Bytes: 900 << 20},
			{Job: "nightly", Source: "letters", Kind: "path", Repository: "primary-repo", SnapshotID: "0c0ffee0" + strings.Repeat("2", 56),
				SnapshotTime: at(2, 9), Items: 5120, DataBytes: 12 << 20, Files: 1, Bytes: 13 << 20},
		},
	}
}

// TestHandoverReceiptRefusesIncomplete: a receipt without an id, a
// contract, a manifest hash or a source is not rendered.
func TestHandoverReceiptRefusesIncomplete(t *testing.T) {
	for _, tt := range []struct {
		name   string
		change func(*HandoverReceipt)
		want   string
	}{
		{"no id", func(h *HandoverReceipt) { h.ExportID = "" }, "export_id"},
		{"no contract", func(h *HandoverReceipt) { h.Contract = "" }, "contract"},
		{"bad manifest hash", func(h *HandoverReceipt) { h.ManifestSHA256 = "abc" }, "manifest_sha256"},
		{"no source", func(h *HandoverReceipt) { h.Sources = nil }, "no source"},
		{"no snapshot", func(h *HandoverReceipt) { h.Sources[1].SnapshotID = "" }, "sources[1]"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := fixtureHandover(t)
			tt.change(h)
			_, err := RenderHandoverReceipt(io.Discard, h, renderOptions(t))
			if !errors.Is(err, ErrInvalidEvidence) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("want ErrInvalidEvidence naming %s, got %v", tt.want, err)
			}
		})
	}
}
