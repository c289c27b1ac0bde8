package catalog

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
)

func TestBackupRows(t *testing.T) {
	ctx := context.Background()
	s, err := Create(ctx, filepath.Join(t.TempDir(), "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	run := RunRow{ID: "r1", Job: "j", Source: "src", Repository: "repo", Started: "2026-01-01T00:00:00.000+09:00", Record: []byte(`{}`)}
	if err := s.PutRun(ctx, run); err != nil {
		t.Fatal(err)
	}
	if rs, err := s.RunsWithResult(ctx, "repo", ""); err != nil || len(rs) != 1 {
		t.Fatalf("running: %v %v", rs, err)
	}
	run.Result, run.SnapshotID = "ok", "abc"
	if err := s.PutRun(ctx, run); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Run(ctx, "r1"); err != nil || got.Result != "ok" || got.SnapshotID != "abc" {
		t.Fatalf("run %+v %v", got, err)
	}
	for i, id := range []string{"abc", "def"} {
		if err := s.PutSnapshot(ctx, SnapshotRow{Repository: "repo", SnapshotID: id, Job: "j", Source: "src", Time: "2026-01-0" + string(rune('1'+i)), Record: []byte(`{}`)}); err != nil {
			t.Fatal(err)
		}
		if err := s.PutManifest(ctx, ManifestRow{SnapshotID: id, Source: "src", Kind: "path", SHA256: id, Body: []byte(id)}); err != nil {
			t.Fatal(err)
		}
	}
	if m, err := s.LatestManifest(ctx, "repo", "src"); err != nil || m.SnapshotID != "def" {
		t.Fatalf("latest %+v %v", m, err)
	}
	if r, err := s.Snapshot(ctx, "repo", "abc"); err != nil || r.Source != "src" || string(r.Record) != `{}` {
		t.Fatalf("snapshot %+v %v", r, err)
	}
	if _, err := s.Snapshot(ctx, "other", "abc"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("snapshot of another repository: %v", err)
	}
	if err := s.DeleteSnapshot(ctx, "repo", "def"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Manifest(ctx, "def"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted manifest: %v", err)
	}
	if snaps, err := s.JobSnapshots(ctx, "j"); err != nil || len(snaps) != 1 {
		t.Fatalf("snapshots %v %v", snaps, err)
	}
}
