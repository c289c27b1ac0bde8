package backup

import (
	"context"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
)

// TestFileHash: v2 manifests hash files with BLAKE3 (checked against the
// published test vector for the empty input), v1 manifests with SHA-256;
// both formats are read, nothing else is.
func TestFileHash(t *testing.T) {
	for _, c := range []struct {
		format, name, empty string
	}{
		{ManifestFormat, "BLAKE3", "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"},
		{ManifestFormatV1, "SHA-256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
	} {
		name, newHash := (&Manifest{Format: c.format}).FileHash()
		if got := hex.EncodeToString(newHash().Sum(nil)); name != c.name || got != c.empty {
			t.Errorf("%s: %s of nothing = %s, want %s %s", c.format, name, got, c.name, c.empty)
		}
		if !KnownManifestFormat(c.format) {
			t.Errorf("%s not known", c.format)
		}
	}
	if KnownManifestFormat("steward.manifest/v3") || KnownManifestFormat("") {
		t.Error("an unknown format is accepted")
	}
	if (FileEntry{SHA256: "a"}).Sum() != "a" || (FileEntry{BLAKE3: "b"}).Sum() != "b" {
		t.Error("FileEntry.Sum")
	}
}

// TestHashTreeUpgradesV1: a file whose entry in the previous manifest has
// only a SHA-256 (a v1 manifest) is read and hashed again with BLAKE3
// even though its metadata is unchanged, and a v1 manifest is never taken
// for the same content.
func TestHashTreeUpgradesV1(t *testing.T) {
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "a.txt"), []byte("steward"), 0o600); err != nil {
		t.Fatal(err)
	}
	files, err := hashTree(context.Background(), root, nil, nil)
	if err != nil || len(files) != 1 || files[0].BLAKE3 == "" {
		t.Fatalf("first walk: %+v %v", files, err)
	}
	v2 := files[0]
	old := v2
	old.BLAKE3, old.SHA256 = "", "e3b0"
	prev := map[string]FileEntry{"a.txt": old}
	walked, err := statTree(context.Background(), root, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reusedTree(walked, prev); err != errNeedsHash {
		t.Fatalf("reuse-only walk over a v1 entry: %v, want errNeedsHash", err)
	}
	files, err = hashTree(context.Background(), root, nil, prev)
	if err != nil || len(files) != 1 || files[0].BLAKE3 != v2.BLAKE3 || files[0].SHA256 != "" {
		t.Fatalf("walk over a v1 entry: %+v %v", files, err)
	}
	if sameContent(&Manifest{Kind: "path", Format: ManifestFormatV1, Root: root, Files: files}, root, files) {
		t.Fatal("a v1 manifest is taken for the same content")
	}
	if !sameContent(&Manifest{Kind: "path", Format: ManifestFormat, Root: root, Files: files}, root, files) {
		t.Fatal("an equal v2 manifest is not the same content")
	}
}
