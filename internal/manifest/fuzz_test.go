package manifest

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"steward/internal/pgsql"
)

// manifestSeeds are bodies of every kind, as a Spool and Encode lay them
// out, and edge cases.
func manifestSeeds(f *testing.F) {
	f.Helper()
	for _, m := range []*Manifest{
		{Format: Format, Kind: "path", Job: "nightly", Source: "files", RunID: "R1", SnapshotID: "4f1c2b9a", Created: "2026-04-01T02:00:00+09:00", Root: "/data",
			Files: []FileEntry{{Path: "a/b", Size: 3, Mode: 0o644, BLAKE3: strings.Repeat("ab", 32), MTime: 1, CTime: 2, Inode: 3},
				{Path: "a/b.c/d", Size: 0, Mode: 0o600}, {Path: "a.txt", Mode: 0o777 | 1<<27, Link: "a/b"}, {Path: "b0", Size: 1 << 40}},
			Count: 4, Bytes: 3 + 1<<40},
		{Format: FormatV1, Kind: "path", Root: "/data", Files: []FileEntry{{Path: "x", SHA256: strings.Repeat("cd", 32)}}, Count: 1},
		{Format: Format, Kind: "postgres", Database: "consult", ServerMajor: 17, PgSnapshot: "00000003-0000001B-1", DumpFormat: "custom", DumpEncoding: "UTF8",
			Tables: []pgsql.Table{{Schema: "public", Name: "cases", Rows: 12, Checksum: "copyxxh3/v1:0123"}}, StdinFilename: "consult.dump", Count: 12, Bytes: 4096},
		{Format: Format, Kind: "s3", Bucket: "case-files", Objects: []ObjectEntry{{Key: "2026/a.pdf", Size: 9, SHA256: strings.Repeat("ef", 32)}}, Count: 1, Bytes: 9},
	} {
		body, err := Encode(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(body)
	}
	for _, s := range []string{`{}`, `{"files":null}`, `{"files":[]}`, `{"files":[{"path":"b"},{"path":"a"}]}`, `{"files":[{"path":"a"},{"path":"a"}]}`,
		`{"files":[{"path":"a/b"},{"path":"a.b"}]}`, `{"files":{}}`, `{"files":[1]}`, `{"count":"x"}`, `{"files":[]} {}`, `[]`, `{"files":[{"path":"a"}],"files":[{"path":"b"}]}`, ``} {
		f.Add([]byte(s))
	}
}

// FuzzManifest: Decode (and Parse) never panic on any body; the files of
// an accepted body are in strict walk order, and it encodes (Encode) to a
// body that parses back to the same manifest.
func FuzzManifest(f *testing.F) {
	manifestSeeds(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := Parse(body)
		if err != nil {
			return
		}
		for i := 1; i < len(m.Files); i++ {
			if ComparePaths(m.Files[i-1].Path, m.Files[i].Path) >= 0 {
				t.Fatalf("accepted files out of walk order: %q then %q", m.Files[i-1].Path, m.Files[i].Path)
			}
		}
		again, err := Encode(m)
		if err != nil {
			t.Fatalf("an accepted manifest does not encode: %v", err)
		}
		m2, err := Parse(again)
		if err != nil {
			t.Fatalf("an encoded manifest does not parse: %v\n%s", err, again)
		}
		if len(m.Files) == 0 {
			m.Files = nil
		}
		if !reflect.DeepEqual(m, m2) {
			t.Fatalf("manifest changed in a round trip:\n%+v\n%+v", m, m2)
		}
		if !bytes.Equal(again, mustEncode(t, m2)) {
			t.Fatal("Encode is not stable")
		}
	})
}

func mustEncode(t *testing.T, m *Manifest) []byte {
	t.Helper()
	b, err := Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// walkCompare is the order of a walk by its definition: paths compared
// component by component, each component bytewise, a directory (a
// prefix) before what is under it.
func walkCompare(a, b string) int {
	as, bs := strings.Split(a, "/"), strings.Split(b, "/")
	for i := range min(len(as), len(bs)) {
		if c := strings.Compare(as[i], bs[i]); c != 0 {
			return c
		}
	}
	switch {
	case len(as) < len(bs):
		return -1
	case len(as) > len(bs):
		return 1
	}
	return 0
}

// FuzzComparePaths: ComparePaths is the walk order by its definition,
// and an order: antisymmetric, zero exactly for equal paths.
func FuzzComparePaths(f *testing.F) {
	for _, p := range [][2]string{{"a/b", "a.b"}, {"a", "a/b"}, {"a/b", "a-b"}, {"", "a"}, {"a//b", "a/b"}, {"a/", "a"}, {"~", "a b"}, {"\xff", "/"}} {
		f.Add(p[0], p[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		c := ComparePaths(a, b)
		if c != -ComparePaths(b, a) || (c == 0) != (a == b) {
			t.Fatalf("ComparePaths(%q, %q) = %d, reversed %d", a, b, c, ComparePaths(b, a))
		}
		if w := walkCompare(a, b); w != c {
			t.Fatalf("ComparePaths(%q, %q) = %d, walk order says %d", a, b, c, w)
		}
	})
}
