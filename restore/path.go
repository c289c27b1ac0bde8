package restore

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"steward/internal/progress"
	"steward/internal/resticx"
)

// restorePath runs `restic restore <id>:<path> --target dir`: the tree
// below the backed-up directory lands directly in dir.
func (r *Restorer) restorePath(ctx context.Context, rs *Resolved, snap Snapshot, dir string, res *Result, p *progress.Meter) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	args := []string{"restore", snap.ID + ":" + snap.Path, "--target", dir}
	out, err := r.restic.Run(ctx, rs.Repository, resticx.Call{Args: args, Progress: 2, OnMessage: func(m resticx.Message) {
		if m.MessageType == "status" {
			if m.TotalBytes > 0 {
				p.TotalBytes = m.TotalBytes
			}
			if m.TotalFiles > 0 {
				p.TotalFiles = m.TotalFiles
			}
			p.Update(m.BytesRestored, m.FilesRestored, false)
		}
	}})
	if err != nil {
		if out != nil && len(out.Errors) > 0 {
			return fmt.Errorf("%w; the first of %d errors: %s", err, len(out.Errors), errMessage(out.Errors[0]))
		}
		return err
	}
	if s := out.Summary; s != nil {
		// The snapshot's bytes now in the target (its own count, as
		// snapshots list it): restic skips what a resumed restore (--force)
		// finds already there, so its bytes_restored and total_bytes
		// report only the rest.
		res.Bytes = snap.Bytes
		if res.Bytes == 0 {
			res.Bytes = s.BytesRestored
		}
		// restic's files_restored counts every node (directories,
		// symlinks); Files means regular files everywhere in Steward: the
		// snapshot's own count, all of which a restore that succeeded
		// wrote.
		res.Files = snap.Files
		if res.Files == 0 {
			res.Files = s.FilesRestored
		}
	}
	if len(out.Errors) > 0 {
		return fmt.Errorf("restic reported %d errors, the first: %s", len(out.Errors), errMessage(out.Errors[0]))
	}
	return nil
}

func errMessage(m resticx.Message) string {
	if m.Error != nil {
		return m.Error.Message
	}
	return m.Message
}

func dirEmpty(dir string) (bool, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	return len(ents) == 0, nil
}

// dump runs `restic dump <id> <path>` and hands its output to consume
// (resticx.Runner.Stream).
func (r *Restorer) dump(ctx context.Context, rs *Resolved, snap Snapshot, consume func(io.Reader) error) error {
	return r.restic.Stream(ctx, rs.Repository, resticx.Call{Args: []string{"dump", snap.ID, snap.Path}, Timeout: r.cfg.Restic.Timeout.D()}, consume)
}

// countingReader counts what passes through it.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// safeJoin maps an object key onto a path under dir, refusing keys that
// would escape it.
func safeJoin(dir, key string) (string, error) {
	if key == "" || strings.HasPrefix(key, "/") || strings.HasSuffix(key, "/") {
		return "", fmt.Errorf("%w (key %q)", ErrUnsafeName, key)
	}
	for _, part := range strings.Split(key, "/") {
		if part == "" || part == "." || part == ".." {
			return "", fmt.Errorf("%w (key %q)", ErrUnsafeName, key)
		}
	}
	return filepath.Join(dir, filepath.FromSlash(key)), nil
}

// untarTo writes each archive member into dir (or calls put for each when
// put is set), and reports progress.
func untar(in io.Reader, p *progress.Meter, res *Result, put func(hdr *tar.Header, r io.Reader) error) error {
	cr := &countingReader{r: in}
	tr := tar.NewReader(cr)
	var files int64
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("read the archive: %w", err)
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		if err := put(hdr, tr); err != nil {
			return err
		}
		files++
		res.Bytes += hdr.Size
		res.Files = files
		p.Update(res.Bytes, files, false)
	}
	p.Update(res.Bytes, files, true)
	return nil
}

func writeFile(dir, key string, r io.Reader, mtime time.Time) error {
	path, err := safeJoin(dir, key)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if !mtime.IsZero() {
		_ = os.Chtimes(path, mtime, mtime)
	}
	return nil
}
