package backup

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"steward/internal/catalog"
	"steward/internal/manifest"
)

// The manifest types live in internal/manifest (drills and erase read
// them too); backup builds them.
type (
	Manifest    = manifest.Manifest
	FileEntry   = manifest.FileEntry
	ObjectEntry = manifest.ObjectEntry
)

// ManifestFormat is the format backup writes.
const ManifestFormat = manifest.Format

// built is a manifest made by a source's backup, with how it is stored.
type built struct {
	m *Manifest
	// reused, when set, is the previous manifest this run's equals: it is
	// referenced, not stored again (see storeManifest).
	reused *storedManifest
	// companion, when set, is the restic process started ahead to save
	// this manifest's snapshot.
	companion *companion
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// excluded reports whether rel (slash-separated, relative to root) is
// excluded by one of restic's --exclude patterns. It follows restic's
// rules for the common forms: a pattern without a leading slash matches
// at any depth ("*.tmp", ".cache", "logs/*.gz"); one with a leading slash
// is anchored at the filesystem root; a match on a directory excludes
// everything below it. ("**" is not supported here.)
func excluded(patterns []string, root, rel string) bool {
	if len(patterns) == 0 {
		return false
	}
	abs := strings.Split(strings.Trim(filepath.ToSlash(filepath.Join(root, rel)), "/"), "/")
	for _, p := range patterns {
		anchored := strings.HasPrefix(p, "/")
		pc := strings.Split(strings.Trim(p, "/"), "/")
		starts := []int{0}
		if !anchored {
			starts = starts[:0]
			for i := range abs {
				starts = append(starts, i)
			}
		}
		for _, s := range starts {
			if s+len(pc) > len(abs) {
				continue
			}
			ok := true
			for k, c := range pc {
				if m, _ := filepath.Match(c, abs[s+k]); !m {
					ok = false
					break
				}
			}
			if ok {
				return true
			}
		}
	}
	return false
}

// hashTree walks root and lists every regular file and symlink with its
// BLAKE3. A file whose size, mtime, ctime and inode equal the previous
// manifest's entry keeps that entry's hash without being read: a
// no-change backup costs one stat per file. Unreadable entries are
// skipped, as restic skips them (restic's own error report names them).
func hashTree(ctx context.Context, root string, excludes []string, prev map[string]FileEntry) ([]FileEntry, error) {
	files, err := statTree(ctx, root, excludes)
	if err != nil {
		return nil, err
	}
	return hashFiles(ctx, root, files, prev)
}

// hashFiles gives each regular file of files (from statTree; reused as the
// result) its hash, from prev or read; unreadable files are dropped.
func hashFiles(ctx context.Context, root string, files []FileEntry, prev map[string]FileEntry) ([]FileEntry, error) {
	buf := make([]byte, 1<<20)
	h := manifest.NewBLAKE3() // reset for each file: a hasher holds kilobytes of state
	out := files[:0]
	for _, fe := range files {
		if fs.FileMode(fe.Mode).IsRegular() && !reuseHash(&fe, prev) {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			sum, err := hashFile(filepath.Join(root, filepath.FromSlash(fe.Path)), h, buf)
			if err != nil {
				continue
			}
			fe.BLAKE3 = sum
		}
		out = append(out, fe)
	}
	return out, nil
}

// reusedTree is hashTree for a tree expected to be unchanged: it reads no
// file, and returns errNeedsHash if any regular file's hash cannot be
// taken from prev.
func reusedTree(files []FileEntry, prev map[string]FileEntry) ([]FileEntry, error) {
	out := slices.Clone(files)
	for i := range out {
		if fs.FileMode(out[i].Mode).IsRegular() && !reuseHash(&out[i], prev) {
			return nil, errNeedsHash
		}
	}
	return out, nil
}

// reuseHash gives fe the previous manifest's hash if its size, mtime,
// ctime and inode are unchanged.
func reuseHash(fe *FileEntry, prev map[string]FileEntry) bool {
	old, ok := prev[fe.Path]
	if !ok || old.BLAKE3 == "" || old.Size != fe.Size || old.MTime != fe.MTime || old.CTime != fe.CTime || old.Inode != fe.Inode {
		return false
	}
	fe.BLAKE3 = old.BLAKE3
	return true
}

// statTree lists every regular file and symlink under root that the
// excludes leave, in walk order, with its metadata and link target but
// no hash; it reads no file.
func statTree(ctx context.Context, root string, excludes []string) ([]FileEntry, error) {
	var out []FileEntry
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			if p == root {
				return err
			}
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "." {
			return nil
		}
		rel = filepath.ToSlash(rel)
		if excluded(excludes, root, rel) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		fe := FileEntry{Path: rel, Size: info.Size(), Mode: uint32(info.Mode()), MTime: info.ModTime().UnixNano()}
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			fe.Inode = st.Ino
			fe.CTime = st.Ctim.Sec*1e9 + st.Ctim.Nsec
		}
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			fe.Link, _ = os.Readlink(p)
		case info.Mode().IsRegular():
		default:
			return nil // devices, sockets, fifos: not content
		}
		out = append(out, fe)
		return nil
	})
	return out, err
}

// errNeedsHash stops a reuse-only walk (see hashTree).
var errNeedsHash = errors.New("a file must be hashed")

func hashFile(path string, h hash.Hash, buf []byte) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h.Reset()
	if _, err := io.CopyBuffer(h, f, buf); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// storedManifest is a source's newest manifest as stored: the catalog's
// body and SHA-256 and the repository snapshot holding the same body.
type storedManifest struct {
	m         *Manifest
	body      []byte
	sha256    string
	companion string // manifest snapshot id in the primary repository
}

// previousManifest loads the newest manifest of source in repository from
// the catalog, with the id of the companion snapshot holding it (nil when
// there is none or it cannot be read: hashes are then computed afresh).
func (e *Engine) previousManifest(ctx context.Context, repository, src string) *storedManifest {
	if e.store == nil {
		return nil
	}
	row, err := e.store.LatestManifest(ctx, repository, src)
	if err != nil {
		if !errors.Is(err, catalog.ErrNotFound) {
			e.log.Warn("previous manifest unreadable; hashing every file", "source", src, "err", err)
		}
		return nil
	}
	var m Manifest
	if err := json.Unmarshal(row.Body, &m); err != nil {
		return nil
	}
	p := &storedManifest{m: &m, body: row.Body, sha256: row.SHA256}
	if snap, err := e.store.Snapshot(ctx, repository, row.SnapshotID); err == nil {
		var rec struct {
			ManifestID string `json:"manifest_snapshot_id"`
		}
		if json.Unmarshal(snap.Record, &rec) == nil {
			p.companion = rec.ManifestID
		}
	}
	return p
}

// previousFiles is the previous manifest's files by path, for hash reuse.
func previousFiles(p *storedManifest) map[string]FileEntry {
	prev := map[string]FileEntry{}
	if p == nil {
		return prev
	}
	for _, f := range p.m.Files {
		prev[f.Path] = f
	}
	return prev
}

// sameContent reports whether a new path manifest describes exactly what
// the previous one does: same format and root and the same entries (path,
// size, mode, hash, link target, mtime, ctime, inode), in the same order.
func sameContent(prev *Manifest, root string, files []FileEntry) bool {
	return prev.Kind == "path" && prev.Format == ManifestFormat && prev.Root == root && slices.Equal(prev.Files, files)
}
