package manifest

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
)

// A path manifest can list millions of files, so it is never held whole
// in memory: backups write its files to a Spool as they are hashed and
// stream the body out of it; drills and the next backup stream the files
// back with Decode, in walk order (ComparePaths), and merge them with a
// walk of the tree. The body is one JSON document whose "files" member
// comes last; Decode also reads bodies that have it elsewhere (written
// before), as long as their files are in walk order.

// ComparePaths orders slash-separated relative paths the way a walk of
// the tree visits them (filepath.WalkDir: each directory's names sorted
// bytewise, a directory's contents right after it): bytewise, with '/'
// below every other byte. It returns -1, 0 or +1.
func ComparePaths(a, b string) int {
	n := min(len(a), len(b))
	for i := range n {
		x, y := a[i], b[i]
		if x == y {
			continue
		}
		if x == '/' {
			return -1
		}
		if y == '/' {
			return 1
		}
		if x < y {
			return -1
		}
		return 1
	}
	switch {
	case len(a) < len(b):
		return -1
	case len(a) > len(b):
		return 1
	}
	return 0
}

// ErrUnordered means a manifest's files are not in walk order (or one is
// listed twice): it cannot be merged with a walk of the tree.
var ErrUnordered = errors.New("manifest files are not in walk order")

// Spool collects a manifest's files, in walk order, in an unlinked
// temporary file (nothing is left behind if the process dies; it holds
// file names, which are contract data), then serves the manifest's body
// from it as often as needed.
type Spool struct {
	f     *os.File
	w     *bufio.Writer
	n     int64 // bytes of the files' JSON written
	last  string
	count int64
	bytes int64
	err   error
}

// NewSpool makes a spool in dir.
func NewSpool(dir string) (*Spool, error) {
	f, err := os.CreateTemp(dir, "manifest-*.json")
	if err != nil {
		return nil, fmt.Errorf("manifest spool: %w", err)
	}
	// Unlinked at once: the open file stays readable to this process only.
	if err := os.Remove(f.Name()); err != nil {
		f.Close()
		return nil, fmt.Errorf("manifest spool: %w", err)
	}
	return &Spool{f: f, w: bufio.NewWriterSize(f, 256<<10)}, nil
}

// Add appends one file; files must come in walk order.
func (s *Spool) Add(fe FileEntry) error {
	if s.err != nil {
		return s.err
	}
	if s.count > 0 && ComparePaths(s.last, fe.Path) >= 0 {
		s.err = fmt.Errorf("%w: %q after %q", ErrUnordered, fe.Path, s.last)
		return s.err
	}
	b, err := json.Marshal(fe)
	if err != nil {
		s.err = err
		return err
	}
	if s.count > 0 {
		s.w.WriteByte(',')
		s.n++
	}
	if _, err := s.w.Write(b); err != nil {
		s.err = fmt.Errorf("manifest spool: %w", err)
		return s.err
	}
	s.n += int64(len(b))
	s.last, s.count, s.bytes = fe.Path, s.count+1, s.bytes+fe.Size
	return nil
}

// Count and Bytes are the number of files added and their total size.
func (s *Spool) Count() int64 { return s.count }
func (s *Spool) Bytes() int64 { return s.bytes }

// Body sets m's Count and Bytes from the files added and returns m's
// body: m's fields, then the files. Each call returns a new reader over
// the same bytes. m.Files must be empty.
func (s *Spool) Body(m *Manifest) (io.Reader, error) {
	if s.err != nil {
		return nil, s.err
	}
	if err := s.w.Flush(); err != nil {
		return nil, fmt.Errorf("manifest spool: %w", err)
	}
	if len(m.Files) > 0 {
		return nil, errors.New("manifest spool: the manifest has files of its own")
	}
	m.Count, m.Bytes = s.count, s.bytes
	head, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	head = append(head[:len(head)-1], `,"files":[`...)
	return io.MultiReader(bytes.NewReader(head), io.NewSectionReader(s.f, 0, s.n), strings.NewReader("]}")), nil
}

// Close removes the spool.
func (s *Spool) Close() error {
	if s == nil || s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f = nil
	return err
}

// Encode is the body of a manifest held in memory (files in m.Files, in
// walk order), laid out as a Spool lays it out.
func Encode(m *Manifest) ([]byte, error) {
	files := m.Files
	c := *m
	c.Files = nil
	head, err := json.Marshal(&c)
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return head, nil
	}
	var b bytes.Buffer
	b.Write(head[:len(head)-1])
	b.WriteString(`,"files":[`)
	for i, f := range files {
		if i > 0 {
			if ComparePaths(files[i-1].Path, f.Path) >= 0 {
				return nil, fmt.Errorf("%w: %q after %q", ErrUnordered, f.Path, files[i-1].Path)
			}
			b.WriteByte(',')
		}
		fb, err := json.Marshal(f)
		if err != nil {
			return nil, err
		}
		b.Write(fb)
	}
	b.WriteString("]}")
	return b.Bytes(), nil
}

// Decode reads a manifest body from r, calling each (when not nil) for
// every file in order without keeping them, and returns the manifest
// without its files. It fails with ErrUnordered if the files are not in
// walk order, and when "files" is listed twice; it stops with each's
// error.
func Decode(r io.Reader, each func(FileEntry) error) (*Manifest, error) {
	dec := json.NewDecoder(r)
	if err := expectDelim(dec, '{'); err != nil {
		return nil, err
	}
	head := map[string]json.RawMessage{}
	seenFiles := false
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("manifest: %w", err)
		}
		key, _ := t.(string)
		if key == "files" && seenFiles {
			// Each list is in walk order on its own, but not the two
			// together: the files could not be merged with a walk.
			return nil, errors.New(`manifest: "files" is listed twice`)
		}
		if key != "files" {
			var v json.RawMessage
			if err := dec.Decode(&v); err != nil {
				return nil, fmt.Errorf("manifest: %s: %w", key, err)
			}
			head[key] = v
			continue
		}
		seenFiles = true
		if err := decodeFiles(dec, each); err != nil {
			return nil, err
		}
	}
	if err := expectDelim(dec, '}'); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("manifest: data after the manifest")
	}
	hb, err := json.Marshal(head)
	if err != nil {
		return nil, err
	}
	var m Manifest
	if err := json.Unmarshal(hb, &m); err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	return &m, nil
}

func decodeFiles(dec *json.Decoder, each func(FileEntry) error) error {
	t, err := dec.Token()
	if err != nil {
		return fmt.Errorf("manifest: files: %w", err)
	}
	if t == nil {
		return nil // "files": null
	}
	if d, ok := t.(json.Delim); !ok || d != '[' {
		return fmt.Errorf("manifest: files: expected a list, found %v", t)
	}
	var last string
	for n := 0; dec.More(); n++ {
		var fe FileEntry
		if err := dec.Decode(&fe); err != nil {
			return fmt.Errorf("manifest: file %d: %w", n+1, err)
		}
		if n > 0 && ComparePaths(last, fe.Path) >= 0 {
			return fmt.Errorf("%w: %q after %q", ErrUnordered, fe.Path, last)
		}
		last = fe.Path
		if each != nil {
			if err := each(fe); err != nil {
				return err
			}
		}
	}
	_, err = dec.Token() // ]
	return err
}

func expectDelim(dec *json.Decoder, want json.Delim) error {
	t, err := dec.Token()
	if err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	if d, ok := t.(json.Delim); !ok || d != want {
		return fmt.Errorf("manifest: expected %q, found %v", want, t)
	}
	return nil
}

// Parse decodes a whole body held in memory, files included.
func Parse(body []byte) (*Manifest, error) {
	var files []FileEntry
	m, err := Decode(bytes.NewReader(body), func(fe FileEntry) error {
		files = append(files, fe)
		return nil
	})
	if err != nil {
		return nil, err
	}
	m.Files = files
	return m, nil
}

// Loaded is a manifest read back for a drill or a backup: its fields
// (without files), the SHA-256 of its body, and the body kept in an
// unlinked temporary file to stream the files from.
type Loaded struct {
	*Manifest
	SHA256 string
	f      *os.File
	size   int64
}

// Load reads a body from r to its end into a spool in dir, checking it
// as it goes (Decode), and returns it.
func Load(r io.Reader, dir string) (*Loaded, error) {
	f, err := os.CreateTemp(dir, "manifest-*.json")
	if err != nil {
		return nil, fmt.Errorf("manifest spool: %w", spoolErr(dir, err))
	}
	if err := os.Remove(f.Name()); err != nil {
		f.Close()
		return nil, fmt.Errorf("manifest spool: %w", err)
	}
	h := sha256.New()
	w := bufio.NewWriterSize(f, 256<<10)
	tee := io.TeeReader(r, io.MultiWriter(h, w))
	m, err := Decode(tee, nil)
	if err == nil {
		_, err = io.Copy(io.Discard, tee) // what the decoder did not need
	}
	if err == nil {
		err = w.Flush()
	}
	if err != nil {
		f.Close()
		return nil, spoolErr(dir, err)
	}
	size, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		f.Close()
		return nil, err
	}
	return &Loaded{Manifest: m, SHA256: hex.EncodeToString(h.Sum(nil)), f: f, size: size}, nil
}

// Files streams the files, in walk order, to each.
func (l *Loaded) Files(each func(FileEntry) error) error {
	_, err := Decode(bufio.NewReaderSize(io.NewSectionReader(l.f, 0, l.size), 256<<10), each)
	return err
}

// Body is a reader over the body as loaded.
func (l *Loaded) Body() io.Reader { return io.NewSectionReader(l.f, 0, l.size) }

// Close removes the spool.
func (l *Loaded) Close() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}

// spoolErr explains err, from writing a spool in dir: a full disk is
// named, with what to do; other errors are returned as they are.
func spoolErr(dir string, err error) error {
	if errors.Is(err, syscall.ENOSPC) {
		return fmt.Errorf("%s: the disk is full: free space on that disk and run the command again: %w", dir, err)
	}
	return err
}
