package erase

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"os"
	"path/filepath"

	"steward/certs"
	"steward/internal/objstore"
)

// objectSyncEvery is how many deleted versions the object list gathers
// before it is flushed and synced: a run killed in between loses at most
// that many lines of the list (never a deletion), and says so.
const objectSyncEvery = 1000

// objectList appends the object versions a plan's purges delete to the
// plan's object list (state.Dir.EraseObjects): one JSON line per version,
// naming its target, the SHA-256 of its key (never the key), its version
// and size. The evidence bundle's "objects" are read back from it, so its
// memory does not grow with the number of versions.
type objectList struct {
	f       *os.File
	w       *bufio.Writer
	pending int
}

// openObjectList opens path for appending. A line cut short by a killed
// process is cut off, so that the next line starts on its own.
func openObjectList(path string) (*objectList, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open the erased-object list: %w", err)
	}
	end, err := completeLines(f)
	if err == nil {
		err = f.Truncate(end)
	}
	if err == nil {
		_, err = f.Seek(end, io.SeekStart)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open the erased-object list: %w", err)
	}
	return &objectList{f: f, w: bufio.NewWriterSize(f, 64<<10)}, nil
}

// completeLines is the length of f up to its last newline.
func completeLines(f *os.File) (int64, error) {
	st, err := f.Stat()
	if err != nil || st.Size() == 0 {
		return 0, err
	}
	buf := make([]byte, 4096)
	for end := st.Size(); end > 0; {
		n := min(end, int64(len(buf)))
		if _, err := f.ReadAt(buf[:n], end-n); err != nil {
			return 0, err
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			return end - n + int64(i) + 1, nil
		}
		end -= n
	}
	return 0, nil
}

// add records one deleted version of target.
func (l *objectList) add(target string, v objstore.Version) error {
	line, err := json.Marshal(certs.Object{Target: target, KeySHA256: objstore.KeyHash(v.Key), VersionID: v.VersionID, Size: v.Size})
	if err != nil {
		return err
	}
	l.w.Write(line)
	if err := l.w.WriteByte('\n'); err != nil {
		return fmt.Errorf("write the erased-object list: %w", err)
	}
	if l.pending++; l.pending >= objectSyncEvery {
		return l.sync()
	}
	return nil
}

func (l *objectList) sync() error {
	l.pending = 0
	if err := l.w.Flush(); err != nil {
		return fmt.Errorf("write the erased-object list: %w", err)
	}
	return l.f.Sync()
}

// close syncs and closes the list.
func (l *objectList) close() error {
	err := l.sync()
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// recordedFor counts the versions the list already holds for target: an
// earlier attempt at it was interrupted.
func recordedFor(path, target string) (int64, error) {
	var n int64
	for o, err := range readObjects(path) {
		if err != nil {
			return n, err
		}
		if o.Target == target {
			n++
		}
	}
	return n, nil
}

// readObjects yields the objects recorded in path, in the order they were
// deleted; a missing file yields none. Each call reads the file again.
func readObjects(path string) iter.Seq2[certs.Object, error] {
	return func(yield func(certs.Object, error) bool) {
		f, err := os.Open(path)
		if errors.Is(err, fs.ErrNotExist) {
			return
		}
		if err != nil {
			yield(certs.Object{}, err)
			return
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for line := 1; sc.Scan(); line++ {
			var o certs.Object
			if err := json.Unmarshal(sc.Bytes(), &o); err != nil {
				// A line cut short by a kill is only ever the last one, and
				// the next append cuts it off; a torn last line is not an
				// object that was deleted.
				if !sc.Scan() {
					return
				}
				yield(o, fmt.Errorf("%s line %d: %w", path, line, err))
				return
			}
			if !yield(o, nil) {
				return
			}
		}
		if err := sc.Err(); err != nil {
			yield(certs.Object{}, err)
		}
	}
}
