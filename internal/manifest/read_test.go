package manifest

import (
	"context"
	"encoding/json"
	"io"
	"slices"
	"strings"
	"testing"

	"steward/internal/resticx"
)

// fakeRepo is a repository's snapshot list and manifest files: pure logic
// for the lookup rules (the drills tests run them against real restic).
type fakeRepo struct {
	snaps  []resticx.Snapshot
	bodies map[string][]byte // manifest snapshot id → file content
}

func (f *fakeRepo) Snapshots(_ context.Context, _ *resticx.Repository, tags ...string) ([]resticx.Snapshot, error) {
	var out []resticx.Snapshot
	for _, s := range f.snaps {
		if !slices.ContainsFunc(tags, func(t string) bool { return !s.HasTag(t) }) {
			out = append(out, s)
		}
	}
	return out, nil
}

func (f *fakeRepo) Run(_ context.Context, _ *resticx.Repository, call resticx.Call) (*resticx.Result, error) {
	_, err := io.Copy(call.Stdout, strings.NewReader(string(f.bodies[call.Args[1]])))
	return &resticx.Result{}, err
}

func body(t *testing.T, m Manifest) []byte {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestFromRepository(t *testing.T) {
	ctx := context.Background()
	repo := &resticx.Repository{Name: "osaka"}
	first := Manifest{Format: Format, Kind: "path", Job: "j", Source: "files", RunID: "run-1", SnapshotID: "data1"}
	// A replica: copies have their own ids and name the primary's as
	// original; run 2 reused run 1's manifest (primary id man1).
	f := &fakeRepo{
		snaps: []resticx.Snapshot{
			{ID: "copy-man1", Original: "man1", Tags: []string{TagManifest, "job:j", "source:files", "run:run-1"}},
			{ID: "copy-data1", Original: "data1", Tags: []string{TagData, "job:j", "source:files", "run:run-1"}},
			{ID: "copy-data2", Original: "data2", Tags: []string{TagData, "job:j", "source:files", "run:run-2", TagManifestRef + "man1"}},
		},
		bodies: map[string][]byte{"copy-man1": body(t, first)},
	}
	for _, data := range f.snaps[1:] {
		m, err := FromRepository(ctx, f, repo, data, t.TempDir())
		if err != nil {
			t.Fatalf("%s: %v", data.ID, err)
		}
		m.Close()
		if m.RunID != "run-1" || m.SHA256 != SHA256(f.bodies["copy-man1"]) {
			t.Fatalf("%s: manifest of %s, sum %s", data.ID, m.RunID, m.SHA256)
		}
	}

	// A manifest that describes another snapshot is refused.
	other := first
	other.SnapshotID = "data9"
	f.bodies["copy-man1"] = body(t, other)
	if _, err := FromRepository(ctx, f, repo, f.snaps[1], t.TempDir()); err == nil || !strings.Contains(err.Error(), "describes snapshot") {
		t.Fatalf("a manifest of another snapshot was accepted: %v", err)
	}
	// A manifest of another source is refused, reused or not.
	other = first
	other.Source = "db"
	f.bodies["copy-man1"] = body(t, other)
	if _, err := FromRepository(ctx, f, repo, f.snaps[2], t.TempDir()); err == nil || !strings.Contains(err.Error(), "describes job") {
		t.Fatalf("a manifest of another source was accepted: %v", err)
	}
	// A data snapshot whose manifest snapshot is gone says so.
	f.snaps = f.snaps[1:]
	if _, err := FromRepository(ctx, f, repo, f.snaps[0], t.TempDir()); err == nil || !strings.Contains(err.Error(), "has no manifest snapshot") {
		t.Fatalf("missing companion: %v", err)
	}
	if _, err := FromRepository(ctx, f, repo, f.snaps[1], t.TempDir()); err == nil || !strings.Contains(err.Error(), "does not hold") {
		t.Fatalf("missing reused manifest: %v", err)
	}
}
