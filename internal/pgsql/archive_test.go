package pgsql

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/zeebo/xxh3"

	"steward/internal/keys"
	"steward/internal/testenv"
)

// sumOf runs lines (each without its newline) through a copySum in the
// given pieces of the whole text.
func sumOf(t *testing.T, dump bool, pieces ...string) (*copySum, error) {
	t.Helper()
	c := &copySum{dump: dump}
	for _, p := range pieces {
		if _, err := c.Write([]byte(p)); err != nil {
			return c, err
		}
	}
	return c, c.finish()
}

// TestCopySumAnySplit: however the COPY text is cut into writes (pg_dump's
// chunks, read buffers), the sum is the same, and the rows' order does not
// matter.
func TestCopySumAnySplit(t *testing.T) {
	text := "1\tab\\tc\n\n\\N\n" + strings.Repeat("x", 300) + "\n\\\\.\n"
	whole, err := sumOf(t, false, text)
	if err != nil {
		t.Fatal(err)
	}
	if whole.rows != 5 {
		t.Fatalf("%d rows", whole.rows)
	}
	for i := 0; i <= len(text); i++ {
		for j := i; j <= len(text); j += 7 {
			c, err := sumOf(t, false, text[:i], text[i:j], text[j:])
			if err != nil || c.checksum() != whole.checksum() {
				t.Fatalf("split at %d, %d: %s %v, whole %s", i, j, c.checksum(), err, whole.checksum())
			}
		}
	}
	reordered, _ := sumOf(t, false, "\\\\.\n"+strings.Repeat("x", 300)+"\n\n\\N\n1\tab\\tc\n")
	if reordered.checksum() != whole.checksum() {
		t.Fatalf("order matters: %s, %s", reordered.checksum(), whole.checksum())
	}
	changed, _ := sumOf(t, false, strings.Replace(text, "ab", "ac", 1))
	if changed.checksum() == whole.checksum() {
		t.Fatal("a changed row gives the same checksum")
	}
}

// TestCopySumEndMarker: in a dump, a table's data ends with the line `\.`
// and empty lines; a value that reads \. is escaped (\\.) and is a row.
func TestCopySumEndMarker(t *testing.T) {
	for _, tt := range []struct {
		name   string
		pieces []string
		rows   int64
		fails  string
	}{
		{"rows then marker", []string{"a\nb\n\\.\n\n\n"}, 2, ""},
		{"marker split", []string{"a\n\\", ".", "\n\n", "\n"}, 1, ""},
		{"escaped value is a row", []string{"\\\\.\n\\.\n\n\n"}, 1, ""},
		{"no rows", []string{"\\.\n\n\n"}, 0, ""},
		{"no marker", []string{"a\nb\n"}, 2, "no end-of-copy line"},
		{"data after the marker", []string{"a\n\\.\nb\n"}, 1, "after the end-of-copy line"},
		{"ends inside a line", []string{"a\nb"}, 1, "ends inside a line"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := sumOf(t, true, tt.pieces...)
			if tt.fails == "" && err != nil || tt.fails != "" && (err == nil || !strings.Contains(err.Error(), tt.fails)) {
				t.Fatalf("err %v, want %q", err, tt.fails)
			}
			if err == nil && c.rows != tt.rows {
				t.Fatalf("%d rows, want %d", c.rows, tt.rows)
			}
		})
	}
}

// TestCopySumHash: each line is hashed with XXH3-128 as the reference
// implementation computes it (the values are xxhsum -H2 of xxHash 0.8.1:
// high then low 64 bits), whole or fed in pieces, across the hash's
// code paths for short, medium and long inputs.
func TestCopySumHash(t *testing.T) {
	x := func(n int) string { return strings.Repeat("x", n) }
	for line, want := range map[string]string{
		"":          "99aa06d3014798d86001c324468d497f",
		"1\tline 1": "9ac6082042645d78c72b1e73dd5a2fb0",
		"Grüße 日本":  "635c6e10315b303bfd270ffddff73d9a",
		`\\.`:       "e8d6464a770e22f4803f06b77d7f4bca",
		x(17):       "9e8a29b5dfc13013416e526dfb687d89",
		x(129):      "e7f1abc92bce4135ae9ec8f29e5baa27",
		x(241):      "586c2f1b13edf30f14da9e5c301a6a1d",
		x(1025):     "ae69e0b3ccd9c7399cd2e05a61b8a761",
		x(5000):     "c40b706e6ba9af508d8567cbc9ee3d90",
		x(100000):   "0fe996a84987456bd8b99a30e426ac41",
	} {
		hi, _ := strconv.ParseUint(want[:16], 16, 64)
		lo, _ := strconv.ParseUint(want[16:], 16, 64)
		sum := fmt.Sprintf("%s:1:%d:%d", CopyMethod, int64(hi), int64(lo))
		for _, cut := range []int{0, 1, len(line) / 3, len(line) / 2, len(line) - 1} {
			cut = max(0, min(cut, len(line)))
			c, err := sumOf(t, true, line[:cut], line[cut:]+"\n", "\\.\n")
			if err != nil || c.checksum() != sum {
				t.Fatalf("line of %d bytes cut at %d: %s %v, want %s", len(line), cut, c.checksum(), err, sum)
			}
		}
	}
}

// TestCopySumAgainstPostgres: the sums of the halves are exact — equal to
// PostgreSQL's numeric sums of the same signed 64-bit values — far beyond
// 64 bits.
func TestCopySumAgainstPostgres(t *testing.T) {
	p := testenv.StartPostgres(t)
	var lines []string
	var his, los []int64
	for i := range 3000 {
		lines = append(lines, fmt.Sprintf("%d\tline %d", i, i*i))
	}
	lines = append(lines, "", "\\N", "Grüße 日本")
	for _, l := range lines {
		h := xxh3.Hash128([]byte(l))
		his, los = append(his, int64(h.Hi)), append(los, int64(h.Lo))
	}
	c, err := sumOf(t, false, strings.Join(lines, "\n")+"\n")
	if err != nil {
		t.Fatal(err)
	}
	row := p.Query(t, "postgres", `SELECT format('%s:%s:%s:%s', $3::text, count(*), sum(h), sum(l)) FROM unnest($1::int8[], $2::int8[]) AS u(h, l)`,
		his, los, CopyMethod)[0]
	if want := row[0].(string); c.checksum() != want {
		t.Fatalf("checksum %s, PostgreSQL says %s", c.checksum(), want)
	}
	fits := func(s sum128) bool { return s.hi == 0 && s.lo < 1<<63 || s.hi == -1 && s.lo >= 1<<63 }
	if fits(c.s1) && fits(c.s2) {
		t.Fatalf("sums %s and %s fit in 64 bits: this test would not catch a sum that wraps", c.s1, c.s2)
	}
}

// TestDumpAndCopyChecksumsAgree: the checksums computed from pg_dump's
// archive as it streams (Dump) equal those read back with COPY from the
// source, from a restore of that archive, and from the restore with its
// rows in another physical order; a changed value in the restore changes
// exactly its table's checksum. The databases' own session defaults (time
// zone, bytea output, styles) differ from each other and from pg_dump's,
// so every setting that spells data differently has to be pinned.
func TestDumpAndCopyChecksumsAgree(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	p := testenv.StartPostgres(t)
	p.CreateDatabase(t, "src")
	p.Exec(t, "src", testenv.TrickyTables)
	src, pw := source(p, "src"), keys.Secret(p.Password)
	conn, err := Connect(ctx, src, pw)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	snap, err := Export(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close(ctx)
	// After the export: not in the dump.
	p.Exec(t, "src", `INSERT INTO public.types (id, t) VALUES (99999, 'late'); DELETE FROM public.blank`)

	var archive bytes.Buffer
	a, err := Dump(ctx, DumpOptions{Bin: filepath.Join(p.BinDir, "pg_dump"), Source: src, Password: pw, Snapshot: snap.ID,
		BaseEnv: []string{"PATH=" + os.Getenv("PATH")}}, &archive)
	if err != nil {
		t.Fatal(err)
	}
	if a.Encoding != "UTF8" || a.Version == "" {
		t.Fatalf("archive %s, encoding %q", a.Version, a.Encoding)
	}
	dumped := map[string]Table{}
	for _, tb := range a.Tables {
		dumped[tb.Schema+"."+tb.Name] = tb
		if !strings.HasPrefix(tb.Checksum, CopyMethod+":") || tb.Rows != testenv.TrickyTableRows[tb.Schema+"."+tb.Name] {
			t.Errorf("%s.%s: %d rows (want %d), %s", tb.Schema, tb.Name, tb.Rows, testenv.TrickyTableRows[tb.Schema+"."+tb.Name], tb.Checksum)
		}
	}
	if len(dumped) != len(testenv.TrickyTableRows) {
		t.Fatalf("tables in the archive: %v", slicesOf(dumped))
	}
	// The same bytes a byte at a time: chunk and buffer boundaries fall
	// everywhere.
	again, err := ReadArchive(iotest.OneByteReader(bytes.NewReader(archive.Bytes())))
	if err != nil || !sameTables(again.Tables, a.Tables) {
		t.Fatalf("read a byte at a time: %v\n%v\n%v", err, again, a.Tables)
	}

	// The source itself, read with COPY in the snapshot's state: the rows
	// changed after the export are put back first.
	p.Exec(t, "src", `DELETE FROM public.types WHERE id = 99999; INSERT INTO public.blank VALUES (''), (''), (NULL), ('')`)
	checkCopy(t, ctx, p, "src", a.Encoding, dumped, "")

	p.CreateDatabase(t, "restored")
	p.Exec(t, "restored", `DO $$ BEGIN
		EXECUTE format('ALTER DATABASE %I SET TimeZone = %L', current_database(), 'America/St_Johns');
		EXECUTE format('ALTER DATABASE %I SET DateStyle = %L', current_database(), 'German');
		EXECUTE format('ALTER DATABASE %I SET IntervalStyle = %L', current_database(), 'iso_8601');
	END $$`)
	restore := exec.CommandContext(ctx, filepath.Join(p.BinDir, "pg_restore"), "--no-owner", "--exit-on-error", "--dbname", "restored")
	restore.Env = append([]string{"PATH=" + os.Getenv("PATH")}, p.Env()...)
	restore.Stdin = bytes.NewReader(archive.Bytes())
	if out, err := restore.CombinedOutput(); err != nil {
		t.Fatalf("pg_restore: %v\n%s", err, out)
	}
	checkCopy(t, ctx, p, "restored", a.Encoding, dumped, "")
	// Rows moved (every other one rewritten at the table's end): same sums.
	p.Exec(t, "restored", `UPDATE public.types SET id = id WHERE id % 2 = 0; UPDATE public.gen SET a = a WHERE a < 20`)
	checkCopy(t, ctx, p, "restored", a.Encoding, dumped, "")
	p.Exec(t, "restored", `UPDATE public.types SET tz = tz + interval '1 microsecond' WHERE id = 1`)
	checkCopy(t, ctx, p, "restored", a.Encoding, dumped, "public.types")
}

// checkCopy compares CopyChecksums on db with want; only table differs
// (by checksum, not by rows) when set.
func checkCopy(t *testing.T, ctx context.Context, p *testenv.Postgres, db, encoding string, want map[string]Table, differs string) {
	t.Helper()
	conn, err := Connect(ctx, source(p, db), keys.Secret(p.Password))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	got, err := CopyChecksums(ctx, conn, encoding)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%s: %d tables, want %d", db, len(got), len(want))
	}
	for _, g := range got {
		name := g.Schema + "." + g.Name
		w := want[name]
		if g.Rows != w.Rows || (g.Checksum == w.Checksum) == (name == differs) {
			t.Errorf("%s: %s: %d rows, %s; the archive has %d rows, %s", db, name, g.Rows, g.Checksum, w.Rows, w.Checksum)
		}
	}
}

func sameTables(a, b []Table) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func slicesOf(m map[string]Table) []string {
	var out []string
	for k := range maps.Keys(m) {
		out = append(out, k)
	}
	return out
}

// TestReadArchiveRefuses: anything but a whole, uncompressed custom
// archive of a known version is an error, never a partial manifest.
func TestReadArchiveRefuses(t *testing.T) {
	p := testenv.StartPostgres(t)
	p.CreateDatabase(t, "db")
	p.Exec(t, "db", `CREATE TABLE a (id int, v text); INSERT INTO a SELECT g, md5(g::text) FROM generate_series(1, 2000) g;
		CREATE TABLE b (x int); INSERT INTO b VALUES (1)`)
	dump := func(args ...string) []byte {
		t.Helper()
		cmd := exec.Command(filepath.Join(p.BinDir, "pg_dump"), append([]string{"--dbname", "db"}, args...)...)
		cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, p.Env()...)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("pg_dump %v: %v", args, err)
		}
		return out
	}
	good := dump("--format=custom", "--compress=0")
	if _, err := ReadArchive(bytes.NewReader(good)); err != nil {
		t.Fatal(err)
	}
	rowB := bytes.LastIndex(good, []byte{0, 2, 0, 0, 0, '1', '\n'}) // b's row: a chunk of length 2
	for _, tt := range []struct {
		name string
		in   []byte
		says string
	}{
		{"empty", nil, "ends inside"},
		{"plain SQL", dump("--format=plain"), "not a custom-format archive"},
		{"compressed", dump("--format=custom", "--compress=1"), "compressed"},
		{"cut in the header", good[:20], "ends inside"},
		{"cut in the TOC", good[:len(good)/3], "ends inside"},
		{"cut in a row", good[:rowB+6], "ends inside"},
		// After table a's block (its marker, then a zero length): b's is missing.
		{"cut between blocks", good[:bytes.Index(good, []byte("\\.\n\n\n"))+5+5], "ends before the data of table public.b"},
		{"a block that is not", append(bytes.Clone(good), 9, 0, 1, 0, 0, 0), "unknown type"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadArchive(bytes.NewReader(tt.in))
			if !errors.Is(err, ErrArchive) || !strings.Contains(err.Error(), tt.says) {
				t.Fatalf("err %v, want ErrArchive saying %q", err, tt.says)
			}
		})
	}
}

type failingWriter struct{ left int }

func (f *failingWriter) Write(p []byte) (int, error) {
	if len(p) > f.left {
		return 0, errors.New("the consumer is gone")
	}
	f.left -= len(p)
	return len(p), nil
}

// TestDumpFails: Dump succeeds only when pg_dump exits 0 and its whole
// archive was read and written: a pg_dump that fails after writing all of
// it, one that fails at once (its message is quoted) and a consumer that
// stops reading are errors, and Dump returns once pg_dump is gone.
func TestDumpFails(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p := testenv.StartPostgres(t)
	p.CreateDatabase(t, "db")
	p.Exec(t, "db", `CREATE TABLE a (id int, v text); INSERT INTO a SELECT g, repeat(md5(g::text), 20) FROM generate_series(1, 20000) g`)
	src, pw := source(p, "db"), keys.Secret(p.Password)
	conn, err := Connect(ctx, src, pw)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	snap, err := Export(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close(ctx)
	realDump := filepath.Join(p.BinDir, "pg_dump")
	failsAfter := filepath.Join(t.TempDir(), "pg_dump")
	os.WriteFile(failsAfter, []byte("#!/bin/sh\n"+realDump+" \"$@\" || exit 1\nexit 3\n"), 0o755)
	opts := func(bin, snapshot string) DumpOptions {
		return DumpOptions{Bin: bin, Source: src, Password: pw, Snapshot: snapshot, BaseEnv: []string{"PATH=" + os.Getenv("PATH")}}
	}
	for _, tt := range []struct {
		name string
		o    DumpOptions
		w    io.Writer
		says string
	}{
		{"exit 3 after a whole archive", opts(failsAfter, snap.ID), io.Discard, "exit status 3"},
		{"pg_dump refuses", opts(realDump, "00000003-0000001B-1"), io.Discard, "snapshot"},
		{"the consumer stops reading", opts(realDump, snap.ID), &failingWriter{left: 3 << 20}, "write the dump: the consumer is gone"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			a, err := Dump(ctx, tt.o, tt.w)
			if err == nil || a != nil || !strings.Contains(err.Error(), tt.says) {
				t.Fatalf("archive %v, err %v; want an error saying %q", a, err, tt.says)
			}
			t.Log(err)
			if strings.Contains(err.Error(), p.Password) {
				t.Fatalf("the password is in the error: %v", err)
			}
			if d := time.Since(start); d > 30*time.Second {
				t.Fatalf("took %v", d)
			}
		})
	}
	// And the same with the real pg_dump works.
	if _, err := Dump(ctx, opts(realDump, snap.ID), io.Discard); err != nil {
		t.Fatal(err)
	}
}
