package backup

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"steward/internal/catalog"
	"steward/internal/manifest"
)

// streamEngine is an engine over a real catalog holding one path
// manifest (snapshot "prev" of job "j", source "files").
func streamEngine(t *testing.T, m *Manifest) *Engine {
	t.Helper()
	ctx := context.Background()
	st, err := catalog.Create(ctx, filepath.Join(t.TempDir(), "catalog.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	body, err := manifest.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.PutSnapshot(ctx, catalog.SnapshotRow{Repository: "r", SnapshotID: "prev", Job: "j", Source: "files", Time: "2026-12-01T00:00:00+09:00",
		Record: []byte(`{"manifest_snapshot_id":"man"}`)}); err != nil {
		t.Fatal(err)
	}
	if err := st.PutManifest(ctx, catalog.ManifestRow{SnapshotID: "prev", Source: "files", Kind: "path", SHA256: manifest.SHA256(body)}, bytes.NewReader(body)); err != nil {
		t.Fatal(err)
	}
	return &Engine{store: st, log: slog.New(slog.DiscardHandler)}
}

// walkHash hashes root into a spool with prev's hashes and returns the
// manifest's files.
func walkHash(t *testing.T, e *Engine, root string, prev *storedManifest) []FileEntry {
	t.Helper()
	sp, err := manifest.NewSpool(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	pf := e.previousFiles(context.Background(), prev)
	defer pf.stop()
	if err := hashTree(context.Background(), root, nil, pf, sp); err != nil {
		t.Fatal(err)
	}
	r, err := sp.Body(&Manifest{Format: ManifestFormat, Kind: "path", Root: root})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r)
	m, err := manifest.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	return m.Files
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
	files := walkHash(t, &Engine{}, root, nil)
	if len(files) != 1 || files[0].BLAKE3 == "" {
		t.Fatalf("first walk: %+v", files)
	}
	v2 := files[0]
	old := v2
	old.BLAKE3, old.SHA256 = "", "e3b0"
	e := streamEngine(t, &Manifest{Format: manifest.FormatV1, Kind: "path", Job: "j", Root: root, Files: []FileEntry{old}})
	prev := e.previousManifest(context.Background(), "r", "files")
	if prev == nil || prev.job != "j" || prev.companion != "man" {
		t.Fatalf("previous manifest = %+v", prev)
	}
	if _, same := e.sameTree(context.Background(), prev, "j", root, nil); same {
		t.Fatal("a v1 manifest is taken for the same content")
	}
	files = walkHash(t, e, root, prev)
	if len(files) != 1 || files[0].BLAKE3 != v2.BLAKE3 || files[0].SHA256 != "" {
		t.Fatalf("walk over a v1 entry: %+v", files)
	}
}

// TestSameTree: the tree is the previous manifest's only when every entry
// is, nothing is added or removed, and format, job and root match; an
// unchanged file keeps its hash without being read.
func TestSameTree(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	for _, p := range []string{"a/b", "a.txt", "c"} {
		os.MkdirAll(filepath.Dir(filepath.Join(root, p)), 0o700)
		if err := os.WriteFile(filepath.Join(root, p), []byte(p), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	files := walkHash(t, &Engine{}, root, nil)
	if len(files) != 3 || files[0].Path != "a/b" || files[1].Path != "a.txt" {
		t.Fatalf("walk order: %+v", files)
	}
	m := &Manifest{Format: ManifestFormat, Kind: "path", Job: "j", Root: root, Files: files}
	e := streamEngine(t, m)
	prev := e.previousManifest(ctx, "r", "files")
	if head, same := e.sameTree(ctx, prev, "j", root, nil); !same || head.Root != root || head.Files != nil {
		t.Fatalf("unchanged tree: same %v, head %+v", same, head)
	}
	if _, same := e.sameTree(ctx, prev, "other-job", root, nil); same {
		t.Fatal("another job's manifest taken for the same")
	}
	// A hash taken from the previous manifest is not read again: a fake
	// hash in the previous manifest comes back.
	m.Files[2].BLAKE3 = "feed"
	e = streamEngine(t, m)
	prev = e.previousManifest(ctx, "r", "files")
	if got := walkHash(t, e, root, prev); got[2].BLAKE3 != "feed" {
		t.Fatalf("unchanged file was hashed again: %+v", got[2])
	}
	for name, change := range map[string]func(){
		"file added":   func() { os.WriteFile(filepath.Join(root, "d"), nil, 0o600) },
		"file removed": func() { os.Remove(filepath.Join(root, "d")); os.Remove(filepath.Join(root, "a.txt")) },
	} {
		change()
		if _, same := e.sameTree(ctx, prev, "j", root, nil); same {
			t.Fatalf("%s: taken for the same tree", name)
		}
	}
}
