package backup

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"steward/internal/config"
	"steward/internal/keys"
	"steward/internal/objstore"
	"steward/internal/resticx"
)

// This file is the engine's API for the capabilities built on it (restore,
// drills): they open repositories, resolve secrets and read manifests
// through it, never through its unexported state.

// Config is the engine's config.
func (e *Engine) Config() *config.Config { return e.cfg }

// Restic is the engine's restic runner.
func (e *Engine) Restic() *resticx.Runner { return e.restic }

// Keys is the engine's keyring (nil without a master key).
func (e *Engine) Keys() *keys.Keyring { return e.keys }

// Job finds a job by name ("" when the config has exactly one); the error
// wraps ErrNoJob.
func (e *Engine) Job(name string) (*config.Job, error) { return e.job(name) }

// PgDumpOverride is the configured pg_dump path ("" to look it up).
func (e *Engine) PgDumpOverride() string { return e.pgDump }

// SourceField is the config path of a source for messages, e.g. sources[2].
func (e *Engine) SourceField(name string) string { return e.field("sources", name) }

// OpenRepository resolves a repository for restic: location, unsealed
// password and backend credentials. An S3 repository passes the residency
// check first (req 2) and gets the region its server reported. The answer
// is returned for records.
func (e *Engine) OpenRepository(ctx context.Context, name string) (*resticx.Repository, Residency, error) {
	r, err := e.openRepo(name, true)
	if err != nil {
		return nil, Residency{}, err
	}
	if err := e.checkRepoResidency(ctx, r); err != nil {
		return nil, r.residency, err
	}
	if err := e.probeRepo(ctx, r); err != nil {
		return nil, r.residency, err
	}
	return r.restic, r.residency, nil
}

// ResolveS3 resolves an S3 target's keys (field names the config path in
// errors, e.g. "drills.scratch.s3").
func (e *Engine) ResolveS3(field string, s *config.S3Target) (objstore.Target, error) {
	return e.s3Target(field, s)
}

// CheckRegion asks c's server where its bucket is and checks the answer
// against residency.allowed_regions (and the configured region): the
// residency check (req 2) for targets other than repositories and
// sources, such as a drill's scratch bucket.
func (e *Engine) CheckRegion(ctx context.Context, target, field string, c *objstore.Client) (Residency, error) {
	return e.checkRegion(ctx, target, field, c)
}

// ResolvePostgresPassword resolves a PostgreSQL password reference (nil
// when none is configured).
func (e *Engine) ResolvePostgresPassword(field string, p *config.PostgresSource) (keys.Secret, error) {
	if p.Password.IsZero() {
		return nil, nil
	}
	return keys.Resolve(e.keys, field+".password", string(p.Password))
}

// ManifestSHA256 is the SHA-256 of a manifest body, as run records keep it.
func ManifestSHA256(body []byte) string {
	h := sha256.Sum256(body)
	return hex.EncodeToString(h[:])
}

// ReadManifest reads the manifest of data snapshot snapshotID from the
// repository itself: the companion snapshot tagged manifest-of:<id>, so a
// repository alone can be drilled. It returns the manifest and the
// SHA-256 of its body.
func (e *Engine) ReadManifest(ctx context.Context, repo *resticx.Repository, snapshotID string) (*Manifest, string, error) {
	snaps, err := e.restic.Snapshots(ctx, repo, TagManifest, "manifest-of:"+snapshotID)
	if err != nil {
		return nil, "", fmt.Errorf("find the manifest of snapshot %s: %w", snapshotID, err)
	}
	if len(snaps) == 0 {
		return nil, "", fmt.Errorf("snapshot %s has no manifest snapshot in repository %q", snapshotID, repo.Name)
	}
	ms := snaps[len(snaps)-1]
	source := ""
	for _, t := range ms.Tags {
		if len(t) > len("source:") && t[:len("source:")] == "source:" {
			source = t[len("source:"):]
		}
	}
	var buf bytes.Buffer
	if _, err := e.restic.Run(ctx, repo, resticx.Call{Args: []string{"dump", ms.ID, "/" + source + ".manifest.json"}, Stdout: &buf, Timeout: 10 * time.Minute}); err != nil {
		return nil, "", fmt.Errorf("read the manifest of snapshot %s: %w", snapshotID, err)
	}
	var m Manifest
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		return nil, "", fmt.Errorf("manifest of snapshot %s: %w", snapshotID, err)
	}
	if m.SnapshotID != snapshotID {
		return nil, "", fmt.Errorf("manifest snapshot %s describes snapshot %s, not %s", ms.ID, m.SnapshotID, snapshotID)
	}
	return &m, ManifestSHA256(buf.Bytes()), nil
}
