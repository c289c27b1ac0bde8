package drills

import (
	"context"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"steward/internal/manifest"
)

// loadedOf spools m (files in walk order) as a drill loads a manifest.
func loadedOf(t *testing.T, m *manifest.Manifest) *manifest.Loaded {
	t.Helper()
	body, err := manifest.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	l, err := manifest.Load(strings.NewReader(string(body)), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func blake3Of(s string) string {
	h := manifest.NewBLAKE3()
	h.Write([]byte(s))
	return hex.EncodeToString(h.Sum(nil))
}

// The streaming merge finds every kind of difference, wherever it falls in
// walk order, counts them all and names the first maxNamed of each.
func TestVerifyFilesStreams(t *testing.T) {
	root := t.TempDir()
	m := &manifest.Manifest{Format: manifest.Format, Kind: "path"}
	write := func(rel, content string) {
		p := filepath.Join(root, filepath.FromSlash(rel))
		os.MkdirAll(filepath.Dir(p), 0o700)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// In walk order: a/…, a.txt, b…, z/….
	for i := range 30 {
		rel := fmt.Sprintf("a/f%02d", i)
		write(rel, rel)
		m.Files = append(m.Files, manifest.FileEntry{Path: rel, Size: int64(len(rel)), Mode: 0o600, BLAKE3: blake3Of(rel)})
	}
	write("a.txt", "changed")                                                                                       // content differs, same size
	m.Files = append(m.Files, manifest.FileEntry{Path: "a.txt", Size: 7, Mode: 0o600, BLAKE3: blake3Of("origina")}) // 7 bytes
	m.Files = append(m.Files, manifest.FileEntry{Path: "b-missing", Size: 1, Mode: 0o600, BLAKE3: blake3Of("x")})
	write("c-size", "longer than before")
	m.Files = append(m.Files, manifest.FileEntry{Path: "c-size", Size: 3, Mode: 0o600, BLAKE3: blake3Of("abc")})
	if err := os.Symlink("a.txt", filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	m.Files = append(m.Files, manifest.FileEntry{Path: "link", Size: 5, Mode: uint32(fs.ModeSymlink | 0o777), Link: "other"})
	write("z/extra", "not backed up")

	l := loadedOf(t, m)
	checks, err := verifyFiles(context.Background(), root, l, 2)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]Check{}
	for _, c := range checks {
		byName[c.Name] = c
	}
	if c := byName["files: names"]; c.Result != ResultFailed || !strings.Contains(c.Actual, "1 missing, 1 not in the manifest") ||
		!strings.Contains(c.Detail, "missing: b-missing") || !strings.Contains(c.Detail, "not in the manifest: z/extra") {
		t.Fatalf("names check %+v", c)
	}
	if c := byName["files: bytes"]; c.Result != ResultFailed || !strings.Contains(c.Detail, "c-size (manifest 3 bytes, restored 18)") {
		t.Fatalf("bytes check %+v", c)
	}
	if c := byName["files: BLAKE3"]; c.Result != ResultFailed || !strings.Contains(c.Actual, "3 differ") ||
		!strings.Contains(c.Detail, "a.txt (BLAKE3 differs)") || !strings.Contains(c.Detail, "link (symlink target differs)") {
		t.Fatalf("content check %+v", c)
	}

	// Every file of a/ changed: all 30 counted, maxNamed named.
	for i := range 30 {
		write(fmt.Sprintf("a/f%02d", i), fmt.Sprintf("A/F%02d", i))
	}
	checks, err = verifyFiles(context.Background(), root, l, 2)
	if err != nil {
		t.Fatal(err)
	}
	if c := checks[2]; !strings.Contains(c.Actual, "33 differ") || !strings.HasSuffix(c.Detail, fmt.Sprintf("and %d more", 33-maxNamed)) {
		t.Fatalf("content check of many differences %+v", c)
	}
}

// A restored tree equal to the manifest passes all three checks.
func TestVerifyFilesEqual(t *testing.T) {
	root := t.TempDir()
	m := &manifest.Manifest{Format: manifest.Format, Kind: "path"}
	for _, rel := range []string{"a/b", "a.b", "ab"} {
		p := filepath.Join(root, filepath.FromSlash(rel))
		os.MkdirAll(filepath.Dir(p), 0o700)
		os.WriteFile(p, []byte(rel), 0o600)
		m.Files = append(m.Files, manifest.FileEntry{Path: rel, Size: int64(len(rel)), Mode: 0o600, BLAKE3: blake3Of(rel)})
	}
	checks, err := verifyFiles(context.Background(), root, loadedOf(t, m), 0)
	if err != nil || len(checks) != 3 {
		t.Fatal(checks, err)
	}
	for _, c := range checks {
		if c.Result != ResultPassed {
			t.Fatalf("check %+v", c)
		}
	}
}
