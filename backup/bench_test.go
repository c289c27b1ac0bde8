package backup

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"steward/internal/testenv"
)

// The benchmarks P1-P3 of the backup issue. Each runs its baseline (plain
// restic) and Steward on the same data in the same invocation and reports
// ratios; Steward runs in a child process (this binary in helper mode) so
// its peak RSS (VmHWM, restic excluded) is its own. Sizes come from the
// environment: BENCH_MB (default 1024), BENCH_FILES (10000), BENCH_DB_MB
// (1000), BENCH_OBJECTS (10000). scripts/bench-backup.sh runs them.

// note and newMetrics: see testenv.Note and testenv.Metrics.
var (
	note       = testenv.Note
	newMetrics = testenv.NewMetrics
)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// timed runs cmd and returns its wall time; output is returned too. Dirty
// pages are written back first, so that no run pays for the writes of the
// one before it (a baseline's repository, the test data).
func timed(b *testing.B, cmd *exec.Cmd) (time.Duration, string) {
	b.Helper()
	syscall.Sync()
	start := time.Now()
	out, err := cmd.CombinedOutput()
	d := time.Since(start)
	if err != nil {
		b.Fatalf("%v: %v\n%s", cmd.Args, err, out)
	}
	if cmd.ProcessState != nil && os.Getenv("STEWARD_BENCH_CPU") != "" && cmd.Path != os.Args[0] {
		note("%s: wall %v cpu %v", filepath.Base(cmd.Args[0]), d.Round(time.Millisecond), (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Round(time.Millisecond))
	}
	return d, string(out)
}

// stewardRun runs job (or "init:<repo>") in a child Steward process and
// returns its wall time, its own peak RSS and the bytes it wrote to disk
// itself (write_bytes: catalog, audit log, password files, any temporary
// file; not its children's, and not what it passes through pipes).
func stewardRun(b *testing.B, cfgPath, job string) stewardStats {
	return stewardRunBin(b, os.Args[0], cfgPath, job)
}

// stewardRunBin is stewardRun with the backup test binary bin (another
// build's, for STEWARD_BENCH_OTHER).
func stewardRunBin(b *testing.B, bin, cfgPath, job string) stewardStats {
	b.Helper()
	cmd := exec.Command(bin, "-test.run=^$", "-test.bench=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+cfgPath+"|"+job, "STEWARD_BENCH=1")
	d, out := timed(b, cmd)
	if f := os.Getenv("STEWARD_TRACE_LOG"); f != "" {
		// The child's timestamped debug log, appended to that file.
		if lf, err := os.OpenFile(f, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600); err == nil {
			fmt.Fprintf(lf, "== steward %s\n%s", job, out)
			lf.Close()
		}
	}
	st := stewardStats{wall: d}
	for line := range strings.Lines(out) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "cpu "); ok {
			note("steward %s: %s", job, v)
		}
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "rss "); ok {
			st.rssKB, _ = strconv.Atoi(strings.TrimSuffix(v, " kB"))
		}
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "write_bytes "); ok {
			st.writeBytes, _ = strconv.ParseInt(v, 10, 64)
		}
	}
	if !strings.Contains(out, "finished") {
		b.Fatalf("steward %s: %s", job, out)
	}
	return st
}

type stewardStats struct {
	wall       time.Duration
	rssKB      int
	writeBytes int64
}

// plainRestic is a baseline restic with its own repository.
type plainRestic struct {
	bin, repo, pwFile, cache string
}

func newPlainRestic(b *testing.B, dir string) *plainRestic {
	p := &plainRestic{bin: testenv.Bin(b, "restic"), repo: filepath.Join(dir, "baseline-repo"), pwFile: filepath.Join(dir, "baseline-pw"), cache: filepath.Join(dir, "baseline-cache")}
	os.WriteFile(p.pwFile, []byte("baseline-password"), 0o600)
	timed(b, p.cmd("init"))
	return p
}

func (p *plainRestic) cmd(args ...string) *exec.Cmd {
	c := exec.Command(p.bin, append([]string{"-r", p.repo, "--password-file", p.pwFile, "--cache-dir", p.cache, "-q"}, args...)...)
	c.Env = append(os.Environ(), "RESTIC_PROGRESS_FPS=2")
	return c
}

func benchConfig(b *testing.B, dir, body string) string { return testenv.WriteConfig(b, dir, body) }

// BenchmarkP1 path source: BENCH_MB in BENCH_FILES files, first and
// no-change backup, against plain `restic backup`.
func BenchmarkP1(b *testing.B) {
	mb, n := envInt("BENCH_MB", 1024), envInt("BENCH_FILES", 10000)
	dir := b.TempDir()
	data := filepath.Join(dir, "data")
	size := mb << 20 / n
	buf := make([]byte, size)
	for i := 0; i < n; i++ {
		p := filepath.Join(data, fmt.Sprintf("d%02d", i%100), fmt.Sprintf("f%05d", i))
		os.MkdirAll(filepath.Dir(p), 0o755)
		rand.Read(buf)
		os.WriteFile(p, buf, 0o644)
	}
	ms := newMetrics()
	defer ms.Report(b)
	for b.Loop() {
		run := b.TempDir() // repositories and state of this iteration
		base := newPlainRestic(b, run)
		bFirst, _ := timed(b, base.cmd("backup", "--host", "steward", data))
		bSame, _ := timed(b, base.cmd("backup", "--host", "steward", data))
		cfg := benchConfig(b, run, fmt.Sprintf("repositories:\n  - {name: disk, local: {}}\nsources:\n  - {name: files, path: {path: %s}}\njobs:\n  - {name: j, sources: [files], repository: disk}\n", data))
		stewardRun(b, cfg, "init:disk")
		sFirst, sSame := stewardRun(b, cfg, "j"), stewardRun(b, cfg, "j")
		ms.Median("first-ratio", sFirst.wall.Seconds()/bFirst.Seconds())
		ms.Median("nochange-ratio", sSame.wall.Seconds()/bSame.Seconds())
		ms.Max("steward-MB-RSS", float64(max(sFirst.rssKB, sSame.rssKB))/1024)
		note("P1 %d MiB / %d files: restic %v then %v; steward %v then %v", mb, n, bFirst, bSame, sFirst.wall, sSame.wall)
	}
}

// BenchmarkP2 PostgreSQL source of about BENCH_DB_MB, against two
// baselines run in the same iteration: what a user does by default,
// `pg_dump -Fc | restic backup --stdin` (pg_dump gzips its archive), and
// the like-for-like pipeline `pg_dump -Fc -Z0 | restic backup --stdin`
// (the same uncompressed archive Steward stores, restic compressing it):
// the second is what Steward's own cost (the manifest, the process
// around the pipe) is measured against. Each is a median ratio over the
// iterations; Steward's peak RSS, the bytes it wrote to disk itself and
// the files left in its tmp dir are reported too. STEWARD_BENCH_OTHER=<a
// backup test binary> also runs that build's Steward in each iteration
// (ratio-vs-other: this build's time over that one's).
func BenchmarkP2(b *testing.B) {
	mb := envInt("BENCH_DB_MB", 1000)
	pg := testenv.StartPostgres(b)
	pg.CreateDatabase(b, "bench")
	rows := mb << 20 / 140 // a row is about 140 bytes on disk
	pg.Exec(b, "bench", fmt.Sprintf(`CREATE TABLE t (id bigint PRIMARY KEY, a text, b text, n numeric);
		INSERT INTO t SELECT g, md5(g::text), md5((g*7)::text), g * 1.5 FROM generate_series(1, %d) g`, rows))
	size := pg.Query(b, "bench", "SELECT pg_database_size('bench')")[0][0]
	ms := newMetrics()
	defer ms.Report(b)
	for b.Loop() {
		run := b.TempDir() // repositories and state of this iteration
		dump := filepath.Join(pg.BinDir, "pg_dump")
		baseline := func(name, dumpArgs string) time.Duration {
			os.MkdirAll(filepath.Join(run, name), 0o700)
			base := newPlainRestic(b, filepath.Join(run, name))
			sh := exec.Command("sh", "-c", fmt.Sprintf("%s %s -d bench | %s -r %s --password-file %s --cache-dir %s -q backup --stdin --stdin-filename bench.pgdump --host steward",
				dump, dumpArgs, base.bin, base.repo, base.pwFile, base.cache))
			sh.Env = append(os.Environ(), pg.Env()...)
			d, _ := timed(b, sh)
			return d
		}
		byDefault := baseline("default", "-Fc")
		likeForLike := baseline("z0", "-Fc -Z0")
		cfg := benchConfig(b, run, fmt.Sprintf(`repositories:
  - {name: disk, local: {}}
sources:
  - name: db
    postgres: {host: 127.0.0.1, port: %d, database: bench, user: %s, password: "file:%s", sslmode: disable}
jobs:
  - {name: j, sources: [db], repository: disk}
`, pg.Port, pg.User, writeSecret(b, run, pg.Password)))
		stewardRun(b, cfg, "init:disk")
		st := stewardRun(b, cfg, "j")
		if other := os.Getenv("STEWARD_BENCH_OTHER"); other != "" {
			// Another build's Steward (its backup test binary) on the same
			// database, in the same iteration, with its own state.
			orun := filepath.Join(run, "other")
			os.MkdirAll(orun, 0o700)
			ocfg := benchConfig(b, orun, fmt.Sprintf(`repositories:
  - {name: disk, local: {}}
sources:
  - name: db
    postgres: {host: 127.0.0.1, port: %d, database: bench, user: %s, password: "file:%s", sslmode: disable}
jobs:
  - {name: j, sources: [db], repository: disk}
`, pg.Port, pg.User, writeSecret(b, orun, pg.Password)))
			stewardRunBin(b, other, ocfg, "init:disk")
			ost := stewardRunBin(b, other, ocfg, "j")
			ms.Median("other-ratio-vs-Z0", ost.wall.Seconds()/likeForLike.Seconds())
			ms.Median("ratio-vs-other", st.wall.Seconds()/ost.wall.Seconds())
		}
		tmp, _ := os.ReadDir(filepath.Join(run, "state", "tmp"))
		ms.Median("ratio-vs-default", st.wall.Seconds()/byDefault.Seconds())
		ms.Median("ratio-vs-Z0", st.wall.Seconds()/likeForLike.Seconds())
		ms.Max("steward-MB-RSS", float64(st.rssKB)/1024)
		ms.Max("steward-kB-written", float64(st.writeBytes)/1024)
		ms.Max("tmp-files-left", float64(len(tmp)))
		note("P2 database of %v bytes: pg_dump -Fc|restic %v; pg_dump -Fc -Z0|restic %v; steward %v (manifest of every table included)",
			size, byDefault, likeForLike, st.wall)
	}
}

func writeSecret(b *testing.B, dir, v string) string {
	p := filepath.Join(dir, "pg.secret")
	os.WriteFile(p, []byte(v), 0o600)
	return p
}

// BenchmarkP3 S3 source of BENCH_OBJECTS objects (BENCH_MB in all):
// throughput against restic backing up the same bytes from local disk.
func BenchmarkP3(b *testing.B) {
	mb, n := envInt("BENCH_MB", 1024), envInt("BENCH_OBJECTS", 10000)
	dir := b.TempDir()
	s := testenv.StartS3(b)
	s.MakeBucket(b, "src")
	mc := s.Client(b)
	ctx := context.Background()
	size := mb << 20 / n
	data := filepath.Join(dir, "data")
	buf := make([]byte, size)
	for i := 0; i < n; i++ {
		key := fmt.Sprintf("d%02d/o%05d", i%100, i)
		rand.Read(buf)
		if _, err := mc.PutObject(ctx, "src", key, bytes.NewReader(buf), int64(size), minio.PutObjectOptions{}); err != nil {
			b.Fatal(err)
		}
		os.MkdirAll(filepath.Join(data, filepath.Dir(key)), 0o755)
		os.WriteFile(filepath.Join(data, key), buf, 0o644)
	}
	total := float64(n * size)
	ms := newMetrics()
	defer ms.Report(b)
	for b.Loop() {
		run := b.TempDir() // repositories and state of this iteration
		base := newPlainRestic(b, run)
		bt, _ := timed(b, base.cmd("backup", "--host", "steward", data))
		access, secret := writeSecretN(b, run, "a", s.AccessKey), writeSecretN(b, run, "s", s.SecretKey)
		cfg := benchConfig(b, run, fmt.Sprintf(`repositories:
  - {name: disk, local: {}}
sources:
  - name: bucket
    s3: {endpoint: %s, bucket: src, insecure: true, access_key: "file:%s", secret_key: "file:%s"}
jobs:
  - {name: j, sources: [bucket], repository: disk}
`, s.URL, access, secret))
		stewardRun(b, cfg, "init:disk")
		srv0 := procCPU(s.PID())
		st := stewardRun(b, cfg, "j")
		note("versitygw: cpu %v", procCPU(s.PID())-srv0)
		ms.Median("throughput-ratio", (total/st.wall.Seconds())/(total/bt.Seconds()))
		ms.Median("steward-MiB/s", total/st.wall.Seconds()/(1<<20))
		ms.Max("steward-MB-RSS", float64(st.rssKB)/1024)
		note("P3 %d objects, %d MiB: restic from disk %v; steward from S3 %v", n, mb, bt, st.wall)
		if rclone := os.Getenv("BENCH_RCLONE"); rclone != "" {
			// What a user would do instead: copy the bucket to disk, then
			// back the copy up (and need the disk to hold it).
			staged := filepath.Join(run, "staged")
			cp := exec.Command(rclone, "copy", ":s3:src", staged, "--transfers", "8", "--checkers", "8")
			cp.Env = append(os.Environ(), "RCLONE_CONFIG=/dev/null", "RCLONE_S3_PROVIDER=Other", "RCLONE_S3_ENDPOINT="+s.URL,
				"RCLONE_S3_REGION="+s.Region, "RCLONE_S3_FORCE_PATH_STYLE=true",
				"RCLONE_S3_ACCESS_KEY_ID="+s.AccessKey, "RCLONE_S3_SECRET_ACCESS_KEY="+s.SecretKey)
			ct, _ := timed(b, cp)
			os.MkdirAll(filepath.Join(run, "rclone-baseline"), 0o700)
			staging := newPlainRestic(b, filepath.Join(run, "rclone-baseline"))
			rt, _ := timed(b, staging.cmd("backup", "--host", "steward", staged))
			ms.Median("vs-rclone-then-restic", (ct+rt).Seconds()/st.wall.Seconds())
			ms.Max("rclone-staging-MiB", float64(dirBytes(staged))/(1<<20))
			note("P3 rclone copy %v + restic backup %v = %v; steward %v", ct, rt, ct+rt, st.wall)
		}
	}
}

// dirBytes is the size of the regular files under dir.
func dirBytes(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}

func writeSecretN(b *testing.B, dir, name, v string) string {
	p := filepath.Join(dir, name+".secret")
	os.WriteFile(p, []byte(v), 0o600)
	return p
}

// procCPU is the CPU time (user and system) process pid has used so far.
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name (which may hold spaces): utime and
	// stime are the 12th and 13th, in clock ticks (100 per second).
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.Atoi(f[11])
	st, _ := strconv.Atoi(f[12])
	return time.Duration(u+st) * 10 * time.Millisecond
}
