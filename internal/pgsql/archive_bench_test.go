package pgsql

import (
	"bytes"
	"crypto/md5"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/zeebo/xxh3"

	"steward/internal/testenv"
)

// benchArchive is a pg_dump --format=custom --compress=0 archive of
// BenchmarkP2's table (backup/bench_test.go) at BENCH_DB_MB (default 150)
// MB of database.
func benchArchive(b *testing.B) []byte {
	b.Helper()
	mb, _ := strconv.Atoi(os.Getenv("BENCH_DB_MB"))
	if mb <= 0 {
		mb = 150
	}
	p := testenv.StartPostgres(b)
	p.CreateDatabase(b, "bench")
	p.Exec(b, "bench", fmt.Sprintf(`CREATE TABLE t (id bigint PRIMARY KEY, a text, b text, n numeric);
		INSERT INTO t SELECT g, md5(g::text), md5((g*7)::text), g * 1.5 FROM generate_series(1, %d) g`, mb<<20/140))
	cmd := exec.Command(filepath.Join(p.BinDir, "pg_dump"), "--dbname", "bench", "--format=custom", "--compress=0")
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, p.Env()...)
	out, err := cmd.Output()
	if err != nil {
		b.Fatal(err)
	}
	return out
}

// BenchmarkReadArchive is the manifest's whole cost in Steward: parsing the
// archive and hashing every COPY line (CPU per byte of dump).
func BenchmarkReadArchive(b *testing.B) {
	archive := benchArchive(b)
	b.SetBytes(int64(len(archive)))
	for b.Loop() {
		if _, err := ReadArchive(bytes.NewReader(archive)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRowHash compares, over the same COPY lines, the per-row hash
// CopyMethod uses (XXH3-128) with md5 and SHA-256: why copyxxh3/v1 rather
// than an md5 like rowmd5sum/v1 (see the package doc).
func BenchmarkRowHash(b *testing.B) {
	archive := benchArchive(b)
	// The table's chunks, one row each: a sign byte, a 4-byte length, the
	// row and its newline; the row "1\t…" is the first.
	var lines [][]byte
	for pos := bytes.Index(archive, []byte("\x001\t")) - 4; ; {
		n := int(binary.LittleEndian.Uint32(archive[pos+1:]))
		if n == 0 || string(archive[pos+5:pos+5+n-1]) == `\.` {
			break
		}
		row := archive[pos+5 : pos+5+n-1]
		lines = append(lines, row)
		pos += 5 + n
	}
	var total int64
	for _, l := range lines {
		total += int64(len(l))
	}
	var sink byte
	for _, h := range []struct {
		name string
		sum  func([]byte) byte
	}{
		{"xxh3-128", func(l []byte) byte { return byte(xxh3.Hash128(l).Lo) }},
		{"md5", func(l []byte) byte { s := md5.Sum(l); return s[0] }},
		{"sha256", func(l []byte) byte { s := sha256.Sum256(l); return s[0] }},
	} {
		b.Run(h.name, func(b *testing.B) {
			b.SetBytes(total)
			for b.Loop() {
				for _, l := range lines {
					sink += h.sum(l)
				}
			}
			b.ReportMetric(float64(len(lines)), "lines")
		})
	}
	_ = sink
}
