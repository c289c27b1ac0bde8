package backup

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"hash"
	"io"
	"io/fs"
	"iter"
	"os"
	"path/filepath"
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
	// spool, when set, holds a path manifest's files (m has none).
	spool *manifest.Spool
}

// body is the manifest's body: a new reader each call.
func (b *built) body() (io.Reader, error) {
	if b.spool != nil {
		return b.spool.Body(b.m)
	}
	enc, err := manifest.Encode(b.m)
	if err != nil {
		return nil, err
	}
	return bytes.NewReader(enc), nil
}

// close releases the spool, if any.
func (b *built) close() {
	if b != nil {
		b.spool.Close()
	}
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

// walkTree calls fn for every regular file and symlink under root that
// the excludes leave, in walk order (manifest.ComparePaths), with its
// metadata and link target but no hash; it reads no file and holds one
// directory's names at a time. Unreadable entries are skipped, as restic
// skips them (restic's own error report names them).
func walkTree(ctx context.Context, root string, excludes []string, fn func(FileEntry) error) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
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
		return fn(fe)
	})
}

// hashTree walks root and adds every regular file and symlink to sp with
// its BLAKE3, in walk order. A file whose size, mtime, ctime and inode
// equal the previous manifest's entry keeps that entry's hash without
// being read: a no-change backup costs one stat per file. Unreadable
// files are skipped. Memory does not grow with the number of files: the
// previous manifest is streamed alongside (prev) and the entries go to
// the spool on disk.
func hashTree(ctx context.Context, root string, excludes []string, prev *prevFiles, sp *manifest.Spool) error {
	buf := make([]byte, 1<<20)
	h := manifest.NewBLAKE3() // reset for each file: a hasher holds kilobytes of state
	return walkTree(ctx, root, excludes, func(fe FileEntry) error {
		if fs.FileMode(fe.Mode).IsRegular() && !reuseHash(&fe, prev.lookup(fe.Path)) {
			sum, err := hashFile(filepath.Join(root, filepath.FromSlash(fe.Path)), h, buf)
			if err != nil {
				return nil
			}
			fe.BLAKE3 = sum
		}
		return sp.Add(fe)
	})
}

// reuseHash gives fe the previous manifest's hash if old is its entry
// there with the same size, mtime, ctime and inode.
func reuseHash(fe *FileEntry, old *FileEntry) bool {
	if old == nil || old.Path != fe.Path || old.BLAKE3 == "" || old.Size != fe.Size || old.MTime != fe.MTime || old.CTime != fe.CTime || old.Inode != fe.Inode {
		return false
	}
	fe.BLAKE3 = old.BLAKE3
	return true
}

// errNeedsHash stops a reuse-only walk (see sameTree).
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

// storedManifest is a source's newest manifest as the catalog names it:
// its body's SHA-256, the job of its snapshot and the repository snapshot
// holding the same body.
type storedManifest struct {
	sha256    string
	job       string
	companion string // manifest snapshot id in the primary repository
}

// previousManifest finds the newest manifest of source in repository in
// the catalog, with the id of the companion snapshot holding it (nil when
// there is none: hashes are then computed afresh).
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
	p := &storedManifest{sha256: row.SHA256}
	if snap, err := e.store.Snapshot(ctx, repository, row.SnapshotID); err == nil {
		p.job = snap.Job
		var rec struct {
			ManifestID string `json:"manifest_snapshot_id"`
		}
		if json.Unmarshal(snap.Record, &rec) == nil {
			p.companion = rec.ManifestID
		}
	}
	return p
}

// prevFiles streams the previous manifest's files from the catalog, in
// walk order, to be merged with a walk of the tree: lookup(path) skips to
// path and returns its entry, if the previous manifest has it. A missing
// or unreadable previous manifest has no entries (files are hashed).
type prevFiles struct {
	next func() (FileEntry, bool)
	stop func()
	cur  FileEntry
	ok   bool
	// head (the manifest's fields) and err are set once the body is read
	// to its end.
	head *Manifest
	err  error
}

var errStopped = errors.New("stopped")

// previousFiles opens p's files (p may be nil).
func (e *Engine) previousFiles(ctx context.Context, p *storedManifest) *prevFiles {
	r := &prevFiles{next: func() (FileEntry, bool) { return FileEntry{}, false }, stop: func() {}}
	if p == nil || e.store == nil {
		return r
	}
	seq := func(yield func(FileEntry) bool) {
		body, err := e.store.ManifestBody(ctx, p.sha256)
		if err != nil {
			r.err = err
			return
		}
		defer body.Close()
		m, err := manifest.Decode(bufio.NewReaderSize(body, 256<<10), func(fe FileEntry) error {
			if !yield(fe) {
				return errStopped
			}
			return nil
		})
		if err != nil {
			if !errors.Is(err, errStopped) {
				r.err = err
			}
			return
		}
		r.head = m
	}
	r.next, r.stop = iter.Pull(seq)
	r.advance()
	return r
}

func (r *prevFiles) advance() { r.cur, r.ok = r.next() }

// lookup returns the previous entry of path, or nil; paths must be asked
// for in walk order.
func (r *prevFiles) lookup(path string) *FileEntry {
	for r.ok && manifest.ComparePaths(r.cur.Path, path) < 0 {
		r.advance()
	}
	if r.ok && r.cur.Path == path {
		return &r.cur
	}
	return nil
}

// sameTree reports whether the tree at root, walked without reading a
// file, is exactly what manifest p describes: p is a path manifest of
// this format, job and root, and lists the same entries (path, size,
// mode, link target, mtime, ctime, inode, and a hash for each regular
// file), nothing more and nothing less. It stops at the first difference.
func (e *Engine) sameTree(ctx context.Context, p *storedManifest, job, root string, excludes []string) (*Manifest, bool) {
	prev := e.previousFiles(ctx, p)
	defer prev.stop()
	err := walkTree(ctx, root, excludes, func(fe FileEntry) error {
		if !prev.ok || !sameEntry(prev.cur, fe) {
			return errNeedsHash
		}
		prev.advance()
		return nil
	})
	if err != nil || prev.ok {
		return nil, false
	}
	if prev.err != nil {
		e.log.Warn("previous manifest unreadable; hashing every file", "root", root, "err", prev.err)
		return nil, false
	}
	h := prev.head
	if h == nil || h.Kind != "path" || h.Format != ManifestFormat || h.Root != root || h.Job != job {
		return nil, false
	}
	return h, true
}

// sameEntry reports whether fe, as walked, is old unchanged.
func sameEntry(old, fe FileEntry) bool {
	if fs.FileMode(fe.Mode).IsRegular() && old.BLAKE3 == "" {
		return false
	}
	return old.Path == fe.Path && old.Size == fe.Size && old.Mode == fe.Mode && old.Link == fe.Link &&
		old.MTime == fe.MTime && old.CTime == fe.CTime && old.Inode == fe.Inode
}
