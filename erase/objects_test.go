package erase

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"steward/internal/objstore"
)

// TestObjectList: versions are listed by key hash, never by key; a line
// cut short by a kill is dropped when the list is opened again, and the
// lines before and after it read back whole.
func TestObjectList(t *testing.T) {
	path := filepath.Join(t.TempDir(), "erase", "EP-1-objects.jsonl")
	l, err := openObjectList(path)
	if err != nil {
		t.Fatal(err)
	}
	for i, key := range []string{"cases/a.pdf", "cases/b.pdf"} {
		if err := l.add("bucket:src", objstore.Version{Key: key, VersionID: "v" + string(rune('1'+i)), Size: 10}); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.close(); err != nil {
		t.Fatal(err)
	}
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"target":"bucket:src","key_sha2`) // killed mid-line
	f.Close()
	if n, err := recordedFor(path, "bucket:src"); err != nil || n != 2 {
		t.Fatalf("recorded before reopening: %d, %v", n, err)
	}
	l, err = openObjectList(path)
	if err != nil {
		t.Fatal(err)
	}
	l.add("repository:tokyo", objstore.Version{Key: "data/00/abc", IsDeleteMarker: true, VersionID: "m1"})
	if err := l.close(); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if strings.Contains(string(b), "cases/") || strings.Contains(string(b), "data/00") {
		t.Fatalf("a key is in the list:\n%s", b)
	}
	var got []string
	for o, err := range readObjects(path) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, o.Target+" "+o.VersionID)
		if len(o.KeySHA256) != 64 {
			t.Errorf("key hash %q", o.KeySHA256)
		}
	}
	if strings.Join(got, ",") != "bucket:src v1,bucket:src v2,repository:tokyo m1" {
		t.Fatalf("read back %v", got)
	}
	if n, _ := recordedFor(filepath.Join(t.TempDir(), "none"), "bucket:src"); n != 0 {
		t.Fatalf("a missing list holds %d", n)
	}
}
