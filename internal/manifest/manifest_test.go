package manifest

import (
	"encoding/hex"
	"testing"
)

// TestFileHash: v2 manifests hash files with BLAKE3 (checked against the
// published test vector for the empty input), v1 manifests with SHA-256;
// both formats are read, nothing else is.
func TestFileHash(t *testing.T) {
	for _, c := range []struct {
		format, name, empty string
	}{
		{Format, "BLAKE3", "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"},
		{FormatV1, "SHA-256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
	} {
		name, newHash := (&Manifest{Format: c.format}).FileHash()
		if got := hex.EncodeToString(newHash().Sum(nil)); name != c.name || got != c.empty {
			t.Errorf("%s: %s of nothing = %s, want %s %s", c.format, name, got, c.name, c.empty)
		}
		if !Known(c.format) {
			t.Errorf("%s not known", c.format)
		}
	}
	if Known("steward.manifest/v3") || Known("") {
		t.Error("an unknown format is accepted")
	}
	if (FileEntry{SHA256: "a"}).Sum() != "a" || (FileEntry{BLAKE3: "b"}).Sum() != "b" {
		t.Error("FileEntry.Sum")
	}
}
