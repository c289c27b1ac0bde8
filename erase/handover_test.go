package erase

import (
	"archive/tar"
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type entry struct {
	name     string
	typ      byte
	body     string
	linkname string
}

func archive(t *testing.T, entries ...entry) *bytes.Reader {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		hdr := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: 0o644, Size: int64(len(e.body)), Linkname: e.linkname, Format: tar.FormatPAX}
		if e.typ != tar.TypeReg {
			hdr.Size = 0
		}
		if e.name == "typed.pdf" {
			hdr.PAXRecords = map[string]string{"STEWARD.content-type": "application/pdf", "STEWARD.meta.case": "17"}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if hdr.Size > 0 {
			tw.Write([]byte(e.body))
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return bytes.NewReader(buf.Bytes())
}

// spooled reads back the file entries the writer listed.
func spooled(t *testing.T, w *fileWriter) []FileEntry {
	t.Helper()
	if err := w.buf.Flush(); err != nil {
		t.Fatal(err)
	}
	w.spool.Seek(0, 0)
	var out []FileEntry
	sc := bufio.NewScanner(w.spool)
	for sc.Scan() {
		var e FileEntry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

func newTestWriter(t *testing.T) (*fileWriter, string) {
	t.Helper()
	base := t.TempDir()
	root := filepath.Join(base, "export")
	if err := os.Mkdir(root, 0o700); err != nil {
		t.Fatal(err)
	}
	w, err := newFileWriter(root, filepath.Join(base, "state"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.close)
	return w, root
}

// TestExtractArchiveWritesObjects: each object lands under its key with
// its bytes, 0600 in 0700 directories, listed with the SHA-256 of what was
// written and its content type and metadata; a directory entry becomes a
// directory.
func TestExtractArchiveWritesObjects(t *testing.T) {
	w, root := newTestWriter(t)
	in := archive(t,
		entry{name: "case-1/doc.txt", typ: tar.TypeReg, body: "first"},
		entry{name: "case-1/deep/x y.bin", typ: tar.TypeReg, body: "second"},
		entry{name: "typed.pdf", typ: tar.TypeReg, body: "%PDF"},
		entry{name: "empty-folder/", typ: tar.TypeDir},
		entry{name: "zero", typ: tar.TypeReg},
	)
	n, b, err := extractArchive(in, w, "j/bucket", func(e *FileEntry) { e.Job, e.Source, e.Role = "j", "bucket", "object" })
	if err != nil {
		t.Fatal(err)
	}
	if n != 4 || b != int64(len("first")+len("second")+len("%PDF")) {
		t.Fatalf("objects %d bytes %d", n, b)
	}
	want := map[string]string{"case-1/doc.txt": "first", "case-1/deep/x y.bin": "second", "typed.pdf": "%PDF", "zero": ""}
	for key, body := range want {
		p := filepath.Join(root, "j", "bucket", filepath.FromSlash(key))
		got, err := os.ReadFile(p)
		if err != nil || string(got) != body {
			t.Fatalf("%s: %q %v", key, got, err)
		}
		if st, _ := os.Stat(p); st.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v", key, st.Mode().Perm())
		}
	}
	if st, err := os.Stat(filepath.Join(root, "j", "bucket", "case-1", "deep")); err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("folder: %v %v", st, err)
	}
	if st, err := os.Stat(filepath.Join(root, "j", "bucket", "empty-folder")); err != nil || !st.IsDir() {
		t.Fatalf("folder marker: %v", err)
	}
	entries := spooled(t, w)
	if len(entries) != 4 {
		t.Fatalf("listed %d files", len(entries))
	}
	for _, e := range entries {
		sum := sha256.Sum256([]byte(want[strings.TrimPrefix(e.Path, "j/bucket/")]))
		if e.SHA256 != hex.EncodeToString(sum[:]) || e.Size != int64(len(want[strings.TrimPrefix(e.Path, "j/bucket/")])) || e.Role != "object" || e.Job != "j" {
			t.Errorf("entry %+v", e)
		}
		if e.Path == "j/bucket/typed.pdf" && (e.ContentType != "application/pdf" || e.Metadata["case"] != "17") {
			t.Errorf("typed object lost its content type or metadata: %+v", e)
		}
	}
}

// TestExtractArchiveRefusesUnsafeEntries: names that would leave the
// export directory, or could not name one file faithfully, and links and
// devices are refused with ErrUnsafeEntry, and nothing is written outside
// the directory.
func TestExtractArchiveRefusesUnsafeEntries(t *testing.T) {
	for _, tt := range []struct {
		name  string
		entry entry
	}{
		{"parent", entry{name: "../x", typ: tar.TypeReg, body: "evil"}},
		{"parent inside", entry{name: "a/../../x", typ: tar.TypeReg, body: "evil"}},
		{"deep parent", entry{name: "a/b/../../../../x", typ: tar.TypeReg, body: "evil"}},
		{"absolute", entry{name: "/tmp/x", typ: tar.TypeReg, body: "evil"}},
		{"dot", entry{name: "./x", typ: tar.TypeReg, body: "evil"}},
		{"empty component", entry{name: "a//x", typ: tar.TypeReg, body: "evil"}},
		{"directory climbing", entry{name: "../d/", typ: tar.TypeDir}},
		{"symlink out", entry{name: "link", typ: tar.TypeSymlink, linkname: "../../.."}},
		{"symlink absolute", entry{name: "link", typ: tar.TypeSymlink, linkname: "/etc/passwd"}},
		{"hard link", entry{name: "hard", typ: tar.TypeLink, linkname: "/etc/passwd"}},
		{"fifo", entry{name: "fifo", typ: tar.TypeFifo}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w, root := newTestWriter(t)
			base := filepath.Dir(root)
			before := listTree(t, base)
			// A safe object first: the refusal comes midway, as it would
			// in a real archive.
			in := archive(t, entry{name: "ok.txt", typ: tar.TypeReg, body: "fine"}, tt.entry, entry{name: "x", typ: tar.TypeReg, body: "after"})
			_, _, err := extractArchive(in, w, "j/b", func(*FileEntry) {})
			if !errors.Is(err, ErrUnsafeEntry) {
				t.Fatalf("want ErrUnsafeEntry, got %v", err)
			}
			if !strings.Contains(err.Error(), tt.entry.name) {
				t.Errorf("error does not name the entry: %v", err)
			}
			after := listTree(t, base)
			for p := range after {
				if _, ok := before[p]; !ok && !strings.HasPrefix(p, "export/") && p != "export" {
					t.Errorf("written outside the export directory: %s", p)
				}
				if strings.Contains(p, "evil") || filepath.Base(p) == "x" || filepath.Base(p) == "link" || filepath.Base(p) == "hard" {
					t.Errorf("unsafe entry written: %s", p)
				}
			}
			if _, err := os.Stat(filepath.Join(base, "x")); err == nil {
				t.Error("../x was written")
			}
			if _, err := os.Stat("/tmp/x"); err == nil {
				if b, _ := os.ReadFile("/tmp/x"); string(b) == "evil" {
					t.Error("/tmp/x was written")
				}
			}
		})
	}
}

// TestExtractArchiveKeyAndFolder: a key that is also another key's folder
// cannot be two things on disk; the export fails saying so.
func TestExtractArchiveKeyAndFolder(t *testing.T) {
	w, _ := newTestWriter(t)
	in := archive(t, entry{name: "a", typ: tar.TypeReg, body: "file"}, entry{name: "a/b", typ: tar.TypeReg, body: "below"})
	_, _, err := extractArchive(in, w, "j/b", func(*FileEntry) {})
	if err == nil || !strings.Contains(err.Error(), "another key's folder") {
		t.Fatalf("want a clear error, got %v", err)
	}
}

func listTree(t *testing.T, base string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	filepath.Walk(base, func(p string, _ os.FileInfo, err error) error {
		if err == nil && p != base {
			rel, _ := filepath.Rel(base, p)
			out[rel] = true
		}
		return nil
	})
	return out
}

// TestPrepareDir: a new directory is made 0700, an empty one is taken,
// a non-empty one or a file is refused and left as it was.
func TestPrepareDir(t *testing.T) {
	base := t.TempDir()
	dir, made, err := prepareDir(filepath.Join(base, "new", "export"))
	if err != nil || !made {
		t.Fatalf("new: %v %v", made, err)
	}
	if st, _ := os.Stat(dir); st.Mode().Perm() != 0o700 {
		t.Errorf("mode %v", st.Mode().Perm())
	}
	if _, made, err := prepareDir(dir); err != nil || made {
		t.Fatalf("empty: %v %v", made, err)
	}
	os.WriteFile(filepath.Join(dir, "keep"), []byte("x"), 0o600)
	if _, _, err := prepareDir(dir); !errors.Is(err, ErrHandoverTarget) || !strings.Contains(err.Error(), "--to") {
		t.Fatalf("non-empty: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "keep")); string(b) != "x" {
		t.Fatal("non-empty directory changed")
	}
	if _, _, err := prepareDir(filepath.Join(dir, "keep")); !errors.Is(err, ErrHandoverTarget) {
		t.Fatalf("a file: %v", err)
	}
}
