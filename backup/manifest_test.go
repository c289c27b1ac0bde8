package backup

import (
	"context"
	"os"
	"path/filepath"
	"steward/internal/manifest"
	"testing"
)

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
	if sameContent(&Manifest{Kind: "path", Format: manifest.FormatV1, Root: root, Files: files}, root, files) {
		t.Fatal("a v1 manifest is taken for the same content")
	}
	if !sameContent(&Manifest{Kind: "path", Format: ManifestFormat, Root: root, Files: files}, root, files) {
		t.Fatal("an equal v2 manifest is not the same content")
	}
}
