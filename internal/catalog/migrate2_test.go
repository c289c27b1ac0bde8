package catalog

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"io"
	"path/filepath"
	"testing"
)

// A catalog made before manifest bodies were stored once keeps every
// manifest through migration 2: each body readable under its SHA-256,
// once however many snapshots named it.
func TestMigrationKeepsManifestBodies(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "catalog.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"format":"steward.manifest/v2","kind":"path","files":[{"path":"a","size":1}]}`)
	h := sha256.Sum256(body)
	sum := hex.EncodeToString(h[:])
	for _, q := range []string{
		migrations[0],
		`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied TEXT NOT NULL DEFAULT (datetime('now')))`,
		`INSERT INTO schema_migrations (version) VALUES (1)`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"snap1", "snap2"} {
		if _, err := db.ExecContext(ctx, `INSERT INTO manifests (snapshot_id, source, kind, sha256, body) VALUES (?, 'src', 'path', ?, ?)`, id, sum, body); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	s, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("open a version-1 catalog: %v", err)
	}
	defer s.Close()
	for _, id := range []string{"snap1", "snap2"} {
		row, err := s.Manifest(ctx, id)
		if err != nil || row.SHA256 != sum {
			t.Fatalf("manifest of %s after migration = %+v, %v", id, row, err)
		}
	}
	rc, err := s.ManifestBody(ctx, sum)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || string(got) != string(body) {
		t.Fatalf("body after migration = %q, %v", got, err)
	}
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM manifest_bodies`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("bodies after migration = %d, %v; want 1", n, err)
	}
}
