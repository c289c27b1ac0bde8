package backup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"steward/internal/manifest"
	"steward/internal/resticx"
	"testing"
	"time"
)

// TestUnchangedSourceReusesManifest: a no-change backup of a path source
// writes no new manifest snapshot; its data snapshot names the existing
// one (tag manifest:<id>), whose body is the catalog's byte for byte; the
// catalog holds the manifest under the new snapshot too; retention keeps
// a named manifest snapshot; a changed file ends the reuse.
func TestUnchangedSourceReusesManifest(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	files := filepath.Join(dir, "files")
	writeFiles(t, files, 9, 10<<10)
	body := fmt.Sprintf(`repositories:
  - {name: disk, local: {}}
  - {name: copy, local: {}}
sources:
  - {name: files, path: {path: %s}}
jobs:
  - {name: j, sources: [files], repository: disk, replicas: [copy], retention: {keep_last: 1}}
`, files)
	f := newFixture(t, dir, body, nil)
	for _, r := range []string{"disk", "copy"} {
		if err := f.repos.Init(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	run := func() RunRecord {
		t.Helper()
		rep, err := f.eng.Run(ctx, RunOptions{Job: "j"})
		if err != nil {
			t.Fatal(err)
		}
		return rep.Runs[0]
	}
	manifestSnaps := func(repoName string) []resticx.Snapshot {
		var out []resticx.Snapshot
		for _, s := range f.allSnapshots(t, repoName) {
			if slices.Contains(s.Tags, TagManifest) {
				out = append(out, s)
			}
		}
		return out
	}

	first := run()
	second := run()
	if first.ManifestReused || !second.ManifestReused || second.ManifestID != first.ManifestID || second.ManifestSHA256 != first.ManifestSHA256 {
		t.Fatalf("first %+v\nsecond %+v", first, second)
	}
	// keep_last 1 forgot the first data snapshot but not the manifest
	// snapshot the second names; the replica likewise.
	for _, repoName := range []string{"disk", "copy"} {
		data := f.dataSnapshots(t, repoName)
		if len(data) != 1 || !slices.Contains(data[0].Tags, TagManifestRef+first.ManifestID) {
			t.Fatalf("%s data snapshots %+v", repoName, data)
		}
		if ms := manifestSnaps(repoName); len(ms) != 1 {
			t.Fatalf("%s manifest snapshots %+v", repoName, ms)
		}
	}
	out := f.resticByHand(t, "disk", "dump", first.ManifestID, "/files.manifest.json")
	sum := sha256.Sum256(out)
	if hex.EncodeToString(sum[:]) != second.ManifestSHA256 {
		t.Fatal("the named manifest snapshot differs from the record")
	}
	_, mbody, err := manifest.ReadAll(ctx, f.store, second.SnapshotID)
	if err != nil || manifest.SHA256(mbody) != second.ManifestSHA256 || string(mbody) != string(out) {
		t.Fatalf("catalog manifest of the second snapshot: %v", err)
	}
	// The catalog holds the body once, named by both snapshots.
	var bodies int
	if err := f.store.DB().QueryRowContext(ctx, `SELECT count(*) FROM manifest_bodies WHERE sha256 = ?`, second.ManifestSHA256).Scan(&bodies); err != nil || bodies != 1 {
		t.Fatalf("catalog holds the reused body %d times (%v), want once", bodies, err)
	}

	// A third unchanged run still reuses it; then a changed file ends the
	// reuse and a new manifest snapshot is written.
	if third := run(); !third.ManifestReused || third.ManifestID != first.ManifestID {
		t.Fatalf("third %+v", third)
	}
	if err := os.WriteFile(filepath.Join(files, "d0", "f000.bin"), []byte("changed"), 0o644); err != nil {
		t.Fatal(err)
	}
	fourth := run()
	if fourth.ManifestReused || fourth.ManifestID == first.ManifestID {
		t.Fatalf("fourth %+v", fourth)
	}
	if ms := manifestSnaps("disk"); len(ms) != 1 || ms[0].ID != fourth.ManifestID {
		t.Fatalf("after a change: manifest snapshots %+v", ms)
	}
	f.resticByHand(t, "disk", "check")
	f.tmpEmpty(t)
}
