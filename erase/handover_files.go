package erase

import (
	"archive/tar"
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"

	"steward/internal/objstore"
	"steward/internal/progress"
	"steward/internal/state"
)

// FileEntry is one file of the export, as the manifest lists it.
type FileEntry struct {
	// Path is relative to the export directory, with "/" separators.
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	Job    string `json:"job"`
	Source string `json:"source"`
	// Role is "tar" (a path source's tree), "pg_dump" (custom format),
	// "sql" (plain SQL made from it) or "object" (one object of a bucket).
	Role string `json:"role"`
	// ContentType and Metadata are an object's, as the backup recorded
	// them.
	ContentType string            `json:"content_type,omitempty"`
	Metadata    map[string]string `json:"metadata,omitempty"`
}

// fileWriter creates the export's files (0600, directories 0700, never
// over an existing file nor through a link) and lists each one, with its
// size and the SHA-256 of the bytes written, in a spool file that becomes
// the manifest's file list: a bucket of millions of objects is never
// listed in memory.
type fileWriter struct {
	root  string
	spool *os.File
	enc   *json.Encoder
	buf   *bufio.Writer
	files int64
	bytes int64
	// meter, when set, is updated with the bytes and files written since
	// baseBytes and baseFiles (one source's), as they are written.
	meter     *progress.Meter
	baseBytes int64
	baseFiles int64
}

// newFileWriter writes under root; the spool lives, unlinked, in the
// state dir's tmp (it names the contract's files).
func newFileWriter(root, stateDir string) (*fileWriter, error) {
	tmp := state.Dir(stateDir).Tmp()
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return nil, err
	}
	spool, err := os.CreateTemp(tmp, "handover-files-*.jsonl")
	if err != nil {
		return nil, fmt.Errorf("spool for the manifest's file list: %w", err)
	}
	os.Remove(spool.Name())
	buf := bufio.NewWriter(spool)
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	return &fileWriter{root: root, spool: spool, buf: buf, enc: enc}, nil
}

func (w *fileWriter) close() { w.spool.Close() }

// abs is rel's path on disk.
func (w *fileWriter) abs(rel string) string { return filepath.Join(w.root, filepath.FromSlash(rel)) }

// hashFile is a file being written (through a 1 MiB buffer), hashed as
// it is written.
type hashFile struct {
	w   *fileWriter
	rel string
	f   *os.File
	bw  *bufio.Writer
	h   hash.Hash
	n   int64
}

// create opens rel (a cleaned relative path) for writing: its parents are
// made 0700, the file 0600; an existing file or a link is refused.
func (w *fileWriter) create(rel string) (*hashFile, error) {
	p := w.abs(rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, err
	}
	return &hashFile{w: w, rel: rel, f: f, bw: bufio.NewWriterSize(f, 1<<20), h: sha256.New()}, nil
}

func (h *hashFile) Write(p []byte) (int, error) {
	n, err := h.bw.Write(p)
	h.h.Write(p[:n])
	h.n += int64(n)
	if m := h.w.meter; m != nil {
		m.Update(h.w.bytes-h.w.baseBytes+h.n, h.w.files-h.w.baseFiles, false)
	}
	return n, err
}

// abort closes and removes a file that was not written whole.
func (h *hashFile) abort() {
	h.f.Close()
	os.Remove(h.f.Name())
}

// finish flushes, syncs and closes h; on error h is removed.
func (h *hashFile) finish() error {
	err := h.bw.Flush()
	if err == nil {
		err = h.f.Sync()
	}
	if cerr := h.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(h.f.Name())
	}
	return err
}

// commit finishes h and lists it as e (Path, Size and SHA256 are filled
// in).
func (w *fileWriter) commit(h *hashFile, e FileEntry) error {
	if err := h.finish(); err != nil {
		return err
	}
	e.Path, e.Size, e.SHA256 = h.rel, h.n, hex.EncodeToString(h.h.Sum(nil))
	if err := w.enc.Encode(e); err != nil {
		return fmt.Errorf("spool the manifest's file list: %w", err)
	}
	w.files++
	w.bytes += h.n
	return nil
}

// extractArchive reads a bucket's archive (the tar stream a bucket
// source's snapshot holds) and writes each object as a file under dir (a
// relative path of the export), its key as the path below dir. Entries
// are checked before anything is written: an absolute name, an empty,
// "." or ".." component, a link (symbolic or hard) or any other special
// file is refused (ErrUnsafeEntry), so that nothing lands outside dir,
// and a key that is another key's folder ("a" and "a/b") fails. A
// directory entry becomes a directory. fill completes each entry (job, source, role). It returns
// the objects written and their bytes.
func extractArchive(in io.Reader, w *fileWriter, dir string, fill func(*FileEntry)) (objects, bytes int64, err error) {
	tr := tar.NewReader(in)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return objects, bytes, nil
		}
		if err != nil {
			return objects, bytes, fmt.Errorf("read the bucket's archive: %w", err)
		}
		switch hdr.Typeflag {
		case tar.TypeXGlobalHeader:
			continue
		case tar.TypeDir:
			rel, err := entryPath(dir, hdr.Name, true)
			if err != nil {
				return objects, bytes, err
			}
			if err := os.MkdirAll(w.abs(rel), 0o700); err != nil {
				return objects, bytes, err
			}
			continue
		case tar.TypeReg:
		default:
			return objects, bytes, fmt.Errorf("%w: entry %q is a %s, not a file: a bucket's archive holds only objects; refused", ErrUnsafeEntry, hdr.Name, typeName(hdr.Typeflag))
		}
		rel, err := entryPath(dir, hdr.Name, false)
		if err != nil {
			return objects, bytes, err
		}
		f, err := w.create(rel)
		if err != nil {
			return objects, bytes, fmt.Errorf("object %q: %w (a key that is also another key's folder cannot be written as a file)", hdr.Name, err)
		}
		if _, err := io.Copy(f, tr); err != nil {
			f.abort()
			return objects, bytes, fmt.Errorf("object %q: %w", hdr.Name, err)
		}
		if f.n != hdr.Size {
			f.abort()
			return objects, bytes, fmt.Errorf("object %q: wrote %d of %d bytes", hdr.Name, f.n, hdr.Size)
		}
		po := objstore.PutOptionsFromArchive(hdr.PAXRecords)
		e := FileEntry{ContentType: po.ContentType, Metadata: po.Metadata}
		fill(&e)
		if err := w.commit(f, e); err != nil {
			return objects, bytes, err
		}
		objects++
		bytes += f.n
	}
}

// entryPath maps an archive entry's name onto a path below dir (both
// relative, "/"-separated), refusing names that could leave dir or that
// do not name one file faithfully.
func entryPath(dir, name string, isDir bool) (string, error) {
	n := name
	if isDir {
		n = strings.TrimSuffix(n, "/")
	}
	bad := func(why string) (string, error) {
		return "", fmt.Errorf("%w: entry %q %s; refused (nothing is written outside the export directory)", ErrUnsafeEntry, name, why)
	}
	switch {
	case n == "":
		return bad("has no name")
	case strings.HasPrefix(n, "/"):
		return bad("is an absolute name")
	case strings.ContainsRune(n, 0):
		return bad("contains a NUL byte")
	}
	for _, part := range strings.Split(n, "/") {
		switch part {
		case "..":
			return bad(`climbs out with ".."`)
		case "", ".":
			return bad(`has an empty or "." component`)
		}
		if len(part) > 255 {
			return bad("has a component longer than 255 bytes")
		}
	}
	return path.Join(dir, n), nil
}

func typeName(t byte) string {
	switch t {
	case tar.TypeSymlink:
		return "symbolic link"
	case tar.TypeLink:
		return "hard link"
	case tar.TypeChar, tar.TypeBlock:
		return "device"
	case tar.TypeFifo:
		return "FIFO"
	}
	return fmt.Sprintf("entry of type %q", t)
}

// HandoverManifest is the manifest's header: everything but the file list,
// which follows it in the file as "files" (one FileEntry per line).
type HandoverManifest struct {
	Schema   string           `json:"schema"`
	ID       string           `json:"export_id"`
	Contract string           `json:"contract"`
	Customer string           `json:"customer"`
	Operator string           `json:"operator"`
	Started  string           `json:"started"`
	Finished string           `json:"finished"`
	Sources  []manifestSource `json:"sources"`
	Summary  manifestSummary  `json:"summary"`
}

type manifestSource struct {
	Job          string `json:"job"`
	Source       string `json:"source"`
	Kind         string `json:"kind"`
	Repository   string `json:"repository"`
	SnapshotID   string `json:"snapshot_id"`
	SnapshotTime string `json:"snapshot_time"`
	Dir          string `json:"dir"`
	Items        int64  `json:"items"`
	DataBytes    int64  `json:"data_bytes"`
	Files        int64  `json:"files"`
	Bytes        int64  `json:"bytes"`
}

type manifestSummary struct {
	Files int64 `json:"files"`
	Bytes int64 `json:"bytes"`
}

// writeManifest writes handover-manifest.json (the header, then the
// spooled file list) hashing it as it is written, and its SHA-256 beside
// it in sha256sum's format.
func (x *Exporter) writeManifest(w *fileWriter, res *HandoverResult) error {
	if err := w.buf.Flush(); err != nil {
		return err
	}
	hdr := HandoverManifest{Schema: HandoverSchema, ID: res.ID, Contract: res.Contract, Customer: res.Customer, Operator: res.Operator,
		Started: x.clock.Format(res.Started), Finished: x.clock.Format(res.Finished), Summary: manifestSummary{Files: res.Files, Bytes: res.Bytes}}
	for _, s := range res.Sources {
		hdr.Sources = append(hdr.Sources, manifestSource{Job: s.Job, Source: s.Source, Kind: s.Kind, Repository: s.Repository,
			SnapshotID: s.SnapshotID, SnapshotTime: x.clock.Format(s.SnapshotTime), Dir: s.Dir, Items: s.Items, DataBytes: s.DataBytes,
			Files: s.Files, Bytes: s.Bytes})
	}
	head, err := json.MarshalIndent(hdr, "", " ")
	if err != nil {
		return err
	}
	w.meter = nil
	f, err := w.create(ManifestName)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(f) // through f, which hashes
	// The header without its closing brace, then the file list.
	bw.Write(bytes.TrimRight(bytes.TrimSuffix(head, []byte("}")), "\n"))
	bw.WriteString(",\n \"files\": [")
	if _, err := w.spool.Seek(0, io.SeekStart); err != nil {
		f.abort()
		return err
	}
	sc := bufio.NewScanner(w.spool)
	sc.Buffer(make([]byte, 0, 64*1024), 16<<20)
	for first := true; sc.Scan(); first = false {
		if !first {
			bw.WriteByte(',')
		}
		bw.WriteString("\n  ")
		bw.Write(sc.Bytes())
	}
	if err := sc.Err(); err != nil {
		f.abort()
		return fmt.Errorf("read the spooled file list: %w", err)
	}
	bw.WriteString("\n ]\n}\n")
	if err := bw.Flush(); err != nil {
		f.abort()
		return err
	}
	if err := f.finish(); err != nil {
		return err
	}
	res.ManifestPath, res.ManifestSHA256 = f.f.Name(), hex.EncodeToString(f.h.Sum(nil))
	sum, err := w.create(ManifestSumName)
	if err != nil {
		return err
	}
	fmt.Fprintf(sum, "%s  %s\n", res.ManifestSHA256, ManifestName)
	return sum.finish()
}
