package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// ComparePaths is the order filepath.WalkDir visits a tree in.
func TestComparePathsIsWalkOrder(t *testing.T) {
	root := t.TempDir()
	for _, p := range []string{"a/b", "a/b.c/d", "a.txt", "a-b", "ab", "a/bz", "A", "b/a/a/a", "b/a.a", "b0", "~", "a b"} {
		full := filepath.Join(root, p)
		os.MkdirAll(filepath.Dir(full), 0o700)
		if err := os.WriteFile(full, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var walked []string
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(root, p)
			walked = append(walked, filepath.ToSlash(rel))
		}
		return err
	})
	for i := 1; i < len(walked); i++ {
		if ComparePaths(walked[i-1], walked[i]) >= 0 || ComparePaths(walked[i], walked[i-1]) <= 0 {
			t.Fatalf("walk visits %q before %q, ComparePaths disagrees (walk: %q)", walked[i-1], walked[i], walked)
		}
	}
	if ComparePaths("x/y", "x/y") != 0 {
		t.Fatal("equal paths do not compare equal")
	}
}

func testManifest() *Manifest {
	return &Manifest{Format: Format, Kind: "path", Job: "j", Source: "s", RunID: "r", SnapshotID: "snap", Root: "/data",
		Files: []FileEntry{
			{Path: "a/b", Size: 3, Mode: 0o644, BLAKE3: "aa", MTime: 1, CTime: 2, Inode: 3},
			{Path: "a.txt", Size: 5, Mode: 0o644, BLAKE3: "bb"},
			{Path: "link", Mode: uint32(fs.ModeSymlink | 0o777), Link: "a.txt"},
		}}
}

// A spooled body is the in-memory encoding, and decodes to the same
// manifest, files streamed in order.
func TestSpoolRoundTrip(t *testing.T) {
	m := testManifest()
	sp, err := NewSpool(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	for _, f := range m.Files {
		if err := sp.Add(f); err != nil {
			t.Fatal(err)
		}
	}
	head := *m
	head.Files = nil
	r, err := sp.Body(&head)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(r)
	m.Count, m.Bytes = 3, 8
	want, err := Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("spooled body\n%s\nin-memory body\n%s", got, want)
	}
	back, err := Parse(got)
	if err != nil || !reflect.DeepEqual(back, m) {
		t.Fatalf("decoded %+v, %v; want %+v", back, err, m)
	}
	// A second reader serves the same bytes.
	r2, _ := sp.Body(&head)
	if again, _ := io.ReadAll(r2); !bytes.Equal(again, got) {
		t.Fatal("second body differs")
	}
	if err := sp.Add(FileEntry{Path: "a.txt"}); !errors.Is(err, ErrUnordered) {
		t.Fatalf("adding a file out of order: %v", err)
	}
}

// Bodies written before (json.Marshal: files in the middle, count and
// bytes after them) decode the same.
func TestDecodeOldLayout(t *testing.T) {
	m := testManifest()
	m.Count, m.Bytes = 3, 8
	old, _ := json.Marshal(m)
	back, err := Parse(old)
	if err != nil || !reflect.DeepEqual(back, m) {
		t.Fatalf("decoded %+v, %v; want %+v", back, err, m)
	}
	l, err := Load(bytes.NewReader(old), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l.SHA256 != SHA256(old) || l.Count != 3 {
		t.Fatalf("loaded sum %s count %d", l.SHA256, l.Count)
	}
	var paths []string
	if err := l.Files(func(f FileEntry) error { paths = append(paths, f.Path); return nil }); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(paths, []string{"a/b", "a.txt", "link"}) {
		t.Fatalf("streamed %q", paths)
	}
}

func TestDecodeRefusesDisorderAndTrailingData(t *testing.T) {
	m := testManifest()
	m.Files[0], m.Files[1] = m.Files[1], m.Files[0]
	b, _ := json.Marshal(m)
	if _, err := Parse(b); !errors.Is(err, ErrUnordered) {
		t.Fatalf("files out of walk order: %v", err)
	}
	m.Files[1] = m.Files[0]
	b, _ = json.Marshal(m)
	if _, err := Parse(b); !errors.Is(err, ErrUnordered) {
		t.Fatalf("a file listed twice: %v", err)
	}
	good, _ := Encode(testManifest())
	if _, err := Parse(append(good, `{}`...)); err == nil {
		t.Fatal("data after the manifest accepted")
	}
	if _, err := Load(bytes.NewReader(good[:len(good)-5]), t.TempDir()); err == nil {
		t.Fatal("a truncated body loaded")
	}
}
