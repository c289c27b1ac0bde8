package manifest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"steward/internal/catalog"
	"steward/internal/resticx"
)

// ErrNotFound means the catalog has no manifest for the snapshot.
var ErrNotFound = errors.New("no manifest recorded")

// CatalogStore is the part of the catalog manifests are read from.
type CatalogStore interface {
	Manifest(ctx context.Context, snapshotID string) (catalog.ManifestRow, error)
	ManifestBody(ctx context.Context, sha256 string) (io.ReadCloser, error)
}

// FromCatalog reads data snapshot snapshotID's manifest from the catalog
// into a spool in tmpDir (errors.Is ErrNotFound when the catalog has
// none). The body read must have the SHA-256 the catalog names.
func FromCatalog(ctx context.Context, store CatalogStore, snapshotID, tmpDir string) (*Loaded, error) {
	row, err := store.Manifest(ctx, snapshotID)
	if errors.Is(err, catalog.ErrNotFound) {
		return nil, fmt.Errorf("snapshot %s: %w in the catalog", short(snapshotID), ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	body, err := store.ManifestBody(ctx, row.SHA256)
	if errors.Is(err, catalog.ErrNotFound) {
		return nil, fmt.Errorf("snapshot %s: the catalog names manifest body %s but does not hold it", short(snapshotID), short(row.SHA256))
	}
	if err != nil {
		return nil, err
	}
	defer body.Close()
	l, err := Load(body, tmpDir)
	if err != nil {
		return nil, fmt.Errorf("manifest of snapshot %s in the catalog: %w", short(snapshotID), err)
	}
	if l.SHA256 != row.SHA256 {
		l.Close()
		return nil, fmt.Errorf("manifest of snapshot %s in the catalog: %w", short(snapshotID), catalog.ErrManifestSHA256)
	}
	return l, nil
}

// Lister lists a repository's snapshots carrying all of tags and runs
// restic (resticx.Runner has both).
type Lister interface {
	Snapshots(ctx context.Context, repo *resticx.Repository, tags ...string) ([]resticx.Snapshot, error)
	Run(ctx context.Context, repo *resticx.Repository, call resticx.Call) (*resticx.Result, error)
}

// FromRepository reads the manifest of data snapshot data, as listed in
// repo, from the repository itself, so that a repository alone (a replica,
// or the primary after the catalog is lost) can be drilled:
//
//  1. if data carries the tag manifest:<id> (an unchanged source reused
//     an earlier manifest), it is the manifest snapshot whose id — or, in
//     a replica, whose original — is <id>;
//  2. otherwise it is the manifest snapshot with data's run:<id> tag.
//
// Either way the manifest is the file /<source>.manifest.json in it, and
// it must describe data's job and source (and, when not reused, data's run
// and snapshot: the copy's original in a replica). It returns the
// manifest, spooled in tmpDir.
func FromRepository(ctx context.Context, l Lister, repo *resticx.Repository, data resticx.Snapshot, tmpDir string) (*Loaded, error) {
	source, job, run := data.TagValue(TagSource), data.TagValue(TagJob), data.TagValue(TagRun)
	if source == "" || run == "" {
		return nil, fmt.Errorf("snapshot %s in repository %q is not a Steward data snapshot (no source: or run: tag)", short(data.ID), repo.Name)
	}
	ms, err := companionOf(ctx, l, repo, data, run)
	if err != nil {
		return nil, err
	}
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		call := resticx.Call{Args: []string{"dump", ms.ID, "/" + FileName(source)}, Stdout: pw, Timeout: 10 * time.Minute}
		_, err := l.Run(ctx, repo, call)
		pw.CloseWithError(err) // nil: io.EOF
		done <- err
	}()
	m, err := Load(pr, tmpDir)
	pr.CloseWithError(errors.New("manifest read"))
	rerr := <-done
	if rerr != nil {
		if m != nil {
			m.Close()
		}
		return nil, fmt.Errorf("read the manifest of snapshot %s from manifest snapshot %s: %w", short(data.ID), short(ms.ID), rerr)
	}
	if err != nil {
		return nil, fmt.Errorf("manifest snapshot %s in repository %q: %w", short(ms.ID), repo.Name, err)
	}
	if err := describes(m.Manifest, data, source, job, run); err != nil {
		m.Close()
		return nil, fmt.Errorf("manifest snapshot %s in repository %q: %w", short(ms.ID), repo.Name, err)
	}
	return m, nil
}

// companionOf finds data's manifest snapshot (see FromRepository).
func companionOf(ctx context.Context, l Lister, repo *resticx.Repository, data resticx.Snapshot, run string) (resticx.Snapshot, error) {
	if ref := data.TagValue(TagManifestRef); ref != "" {
		all, err := l.Snapshots(ctx, repo, TagManifest)
		if err != nil {
			return resticx.Snapshot{}, fmt.Errorf("find the manifest of snapshot %s: %w", short(data.ID), err)
		}
		i := slices.IndexFunc(all, func(s resticx.Snapshot) bool { return s.ID == ref || s.Original == ref })
		if i < 0 {
			return resticx.Snapshot{}, fmt.Errorf("snapshot %s names manifest snapshot %s (tag %s%s), which repository %q does not hold",
				short(data.ID), short(ref), TagManifestRef, ref, repo.Name)
		}
		return all[i], nil
	}
	found, err := l.Snapshots(ctx, repo, TagManifest, TagRun+run)
	if err != nil {
		return resticx.Snapshot{}, fmt.Errorf("find the manifest of snapshot %s: %w", short(data.ID), err)
	}
	switch len(found) {
	case 0:
		return resticx.Snapshot{}, fmt.Errorf("snapshot %s has no manifest snapshot (tags %s, %s%s) in repository %q",
			short(data.ID), TagManifest, TagRun, run, repo.Name)
	case 1:
		return found[0], nil
	}
	return resticx.Snapshot{}, fmt.Errorf("snapshot %s has %d manifest snapshots tagged %s%s in repository %q: expected one",
		short(data.ID), len(found), TagRun, run, repo.Name)
}

// describes checks that m is data's manifest.
func describes(m *Manifest, data resticx.Snapshot, source, job, run string) error {
	if m.Source != source || (job != "" && m.Job != job) {
		return fmt.Errorf("it describes job %q source %q, not job %q source %q", m.Job, m.Source, job, source)
	}
	if data.TagValue(TagManifestRef) != "" {
		return nil // reused: it names the run that first recorded it
	}
	if m.RunID != run {
		return fmt.Errorf("it describes run %s, not %s", m.RunID, run)
	}
	if m.SnapshotID != data.OriginalID() {
		return fmt.Errorf("it describes snapshot %s, not %s", short(m.SnapshotID), short(data.OriginalID()))
	}
	return nil
}

func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// ReadAll reads snapshotID's manifest from the catalog whole, files
// included, with its body. It holds everything in memory: for tests and
// tools looking at small manifests, never for a drill or a backup.
func ReadAll(ctx context.Context, store CatalogStore, snapshotID string) (*Manifest, []byte, error) {
	row, err := store.Manifest(ctx, snapshotID)
	if err != nil {
		return nil, nil, err
	}
	rc, err := store.ManifestBody(ctx, row.SHA256)
	if err != nil {
		return nil, nil, err
	}
	defer rc.Close()
	body, err := io.ReadAll(rc)
	if err != nil {
		return nil, nil, err
	}
	m, err := Parse(body)
	return m, body, err
}
