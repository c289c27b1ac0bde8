package objstore

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"steward/internal/keys"
	"steward/internal/testenv"
)

// BenchmarkP4Purge is P4 of the erase issue: deleting BENCH_VERSIONS
// object versions (default 100,000; a comma list runs each size) on
// versitygw, Steward's Purge against `rclone purge --s3-versions` on an
// identical bucket in the same iteration (which of the two runs first
// alternates). Both buckets are copies of one template bucket filled
// once through the S3 API (see clone). Steward runs in a child process (this test binary in helper
// mode) so that its peak RSS (VmHWM) is its own. BENCH_RCLONE is the
// rclone binary (built for the benchmark only, never in CI).
// scripts/bench-erase.sh runs it.
//
// Each bucket holds BENCH_VERSIONS versions of 64 bytes, BENCH_PER_KEY
// (default 1) of each key, over 100 "directories". With 2 or more, rclone
// purge fails on versitygw (see rclonePurge) and is run again.
func BenchmarkP4Purge(b *testing.B) {
	rclone := os.Getenv("BENCH_RCLONE")
	if rclone == "" {
		b.Fatal("set BENCH_RCLONE to an rclone binary (see scripts/bench-erase.sh)")
	}
	sizes := []int{100000}
	if v := os.Getenv("BENCH_VERSIONS"); v != "" {
		sizes = nil
		for f := range strings.SplitSeq(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 2 {
				b.Fatalf("BENCH_VERSIONS=%q: write sizes like 20000,100000", v)
			}
			sizes = append(sizes, n)
		}
	}
	perKey := 1
	if v, err := strconv.Atoi(os.Getenv("BENCH_PER_KEY")); err == nil && v > 0 {
		perKey = v
	}
	for _, n := range sizes {
		b.Run(fmt.Sprintf("versions=%d", n), func(b *testing.B) { benchPurge(b, rclone, n, perKey) })
	}
}

func benchPurge(b *testing.B, rclone string, n, perKey int) {
	s := testenv.StartS3(b)
	s.MakeBucket(b, "template", testenv.WithVersioning())
	start := time.Now()
	populate(b, s, "template", n, perKey)
	note("populated the template bucket with %d versions in %v", n, time.Since(start).Round(time.Millisecond))
	ms := newMetrics()
	defer ms.Report(b)
	i := 0
	for b.Loop() {
		i++
		sb, rb := fmt.Sprintf("steward-%d", i), fmt.Sprintf("rclone-%d", i)
		for _, bucket := range []string{sb, rb} {
			start := time.Now()
			clone(b, s, "template", bucket)
			note("copied the template to %s in %v", bucket, time.Since(start).Round(time.Millisecond))
		}
		var st purgeStats
		var rt time.Duration
		var rrss int64
		runRclone := func() { rt, rrss = rclonePurge(b, s, rclone, rb) }
		runSteward := func() { st = stewardPurge(b, s, sb, n) }
		if i%2 == 1 {
			runRclone()
			runSteward()
		} else {
			runSteward()
			runRclone()
		}
		mc := s.Client(b)
		for _, bucket := range []string{sb, rb} {
			if ok, err := mc.BucketExists(context.Background(), bucket); err != nil || ok {
				b.Fatalf("bucket %s after its purge: exists %v, %v", bucket, ok, err)
			}
		}
		ms.Median("throughput-ratio", rt.Seconds()/st.wall.Seconds())
		ms.Median("steward-versions/s", float64(n)/st.wall.Seconds())
		ms.Median("rclone-versions/s", float64(n)/rt.Seconds())
		ms.Max("steward-MB-RSS", float64(st.rssKB)/1024)
		ms.Max("rclone-MB-RSS", float64(rrss)/1024)
		note("P4 %d versions: rclone purge %v (%.0f MB RSS); steward %v (%.1f MB RSS, %s)", n, rt.Round(time.Millisecond), float64(rrss)/1024,
			st.wall.Round(time.Millisecond), float64(st.rssKB)/1024, st.cpu)
	}
}

// populate writes n versions into bucket, perKey of each key, 16 PUTs at
// once.
func populate(b *testing.B, s *testenv.S3Server, bucket string, n, perKey int) {
	b.Helper()
	ctx := context.Background()
	mc := s.Client(b)
	body := strings.Repeat("v", 64)
	const workers = 16
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				k := fmt.Sprintf("d%02d/o%07d", i/perKey%100, i/perKey)
				if _, err := mc.PutObject(ctx, bucket, k, strings.NewReader(body), int64(len(body)), minio.PutObjectOptions{}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatalf("populate %s: %v", bucket, err)
	}
}

// clone copies bucket from to a new bucket to, versions and all, by
// copying the server's own directories for it (cp -a keeps the extended
// attributes where versitygw's posix backend keeps metadata): PUTs on
// this machine manage a few hundred versions a second, a copy of the
// files tens of thousands.
func clone(b *testing.B, s *testenv.S3Server, from, to string) {
	b.Helper()
	for _, dir := range []string{"root", "versions"} {
		src, dst := filepath.Join(s.Dir, dir, from), filepath.Join(s.Dir, dir, to)
		if _, err := os.Stat(src); os.IsNotExist(err) {
			continue // no older versions: no versions dir
		}
		if out, err := exec.Command("cp", "-a", src, dst).CombinedOutput(); err != nil {
			b.Fatalf("copy bucket %s to %s: %v\n%s", from, to, err, out)
		}
	}
}

// maxRcloneRuns bounds how often rclonePurge runs rclone on one bucket.
const maxRcloneRuns = 30

// rclonePurge runs `rclone purge --s3-versions` on the bucket, configured
// through its environment (the keys never in argv), and returns its wall
// time and peak RSS in kB. rclone lists while it deletes, one version per
// request, 8 at once; on versitygw v1.8.0 that fails: its listing misses
// versions (the bucket is then not empty: DeleteBucket 409), and with
// several versions of a key two deletes at once can leave the older one
// behind ("Invalid version id specified"). Then, as a user would, it
// runs rclone again until the bucket is gone, and the time is that of
// all runs.
func rclonePurge(b *testing.B, s *testenv.S3Server, rclone, bucket string) (time.Duration, int64) {
	b.Helper()
	var total time.Duration
	var rss int64
	for run := 1; ; run++ {
		cmd := exec.Command(rclone, "purge", "--s3-versions", ":s3:"+bucket)
		cmd.Env = append(os.Environ(), "RCLONE_CONFIG=/dev/null", "RCLONE_S3_PROVIDER=Other", "RCLONE_S3_ENDPOINT="+s.URL,
			"RCLONE_S3_REGION="+s.Region, "RCLONE_S3_FORCE_PATH_STYLE=true",
			"RCLONE_S3_ACCESS_KEY_ID="+s.AccessKey, "RCLONE_S3_SECRET_ACCESS_KEY="+s.SecretKey)
		syscall.Sync()
		start := time.Now()
		out, err := cmd.CombinedOutput()
		total += time.Since(start)
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			rss = max(rss, ru.Maxrss)
		}
		if err == nil {
			return total, rss
		}
		failed := strings.Count(string(out), "Couldn't delete")
		note("rclone purge run %d failed after %v: %d versions could not be deleted; bucket not empty: %v", run, time.Since(start).Round(time.Millisecond), failed, strings.Contains(string(out), "StatusCode: 409"))
		if run == maxRcloneRuns {
			b.Fatalf("rclone purge failed %d times: %v\n%s", run, err, lastLines(string(out), 5))
		}
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

type purgeStats struct {
	wall  time.Duration
	rssKB int
	cpu   string
}

// stewardPurge purges the bucket in a child process (this binary, in
// helper mode) and returns its wall time, peak RSS and CPU time.
func stewardPurge(b *testing.B, s *testenv.S3Server, bucket string, n int) purgeStats {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.bench=^$")
	// The keys reach the child through its environment, never argv.
	cmd.Env = append(os.Environ(), purgeHelperEnv+"="+s.Endpoint+"|"+bucket,
		"STEWARD_BENCH_ACCESS_KEY="+s.AccessKey, "STEWARD_BENCH_SECRET_KEY="+s.SecretKey)
	d, out := timed(b, cmd)
	st := purgeStats{wall: d}
	for line := range strings.Lines(out) {
		line = strings.TrimSpace(line)
		if v, ok := strings.CutPrefix(line, "rss "); ok {
			st.rssKB, _ = strconv.Atoi(strings.TrimSuffix(v, " kB"))
		}
		if v, ok := strings.CutPrefix(line, "cpu "); ok {
			st.cpu = "cpu " + v
		}
	}
	if !strings.Contains(out, fmt.Sprintf("versions %d markers 0 removed true", n)) {
		b.Fatalf("steward purge of %s: %s", bucket, out)
	}
	return st
}

// purgeHelperEnv makes the test binary a Steward process that purges one
// bucket: STEWARD_PURGE_HELPER=<host:port>|<bucket>, the keys in
// STEWARD_BENCH_ACCESS_KEY and STEWARD_BENCH_SECRET_KEY.
const purgeHelperEnv = "STEWARD_PURGE_HELPER"

func TestMain(m *testing.M) {
	if v := os.Getenv(purgeHelperEnv); v != "" {
		os.Exit(purgeHelper(v))
	}
	os.Exit(m.Run())
}

func purgeHelper(v string) int {
	start := time.Now()
	host, bucket, _ := strings.Cut(v, "|")
	c, err := New(Target{Host: host, Bucket: bucket,
		AccessKey: keys.Secret(os.Getenv("STEWARD_BENCH_ACCESS_KEY")), SecretKey: keys.Secret(os.Getenv("STEWARD_BENCH_SECRET_KEY"))})
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	// As erase does, every deleted version goes into an evidence list on
	// disk as a JSON line (key hash, version, size), synced every 1,000.
	list, err := os.CreateTemp("", "purge-objects-*.jsonl")
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	defer os.Remove(list.Name())
	w := bufio.NewWriterSize(list, 64<<10)
	listed := 0
	rm, err := c.Purge(ctx, PurgeOptions{RemoveBucket: true, Deleted: func(v Version) error {
		line, _ := json.Marshal(struct {
			Target, KeySHA256, VersionID string
			Size                         int64
		}{bucket, KeyHash(v.Key), v.VersionID, v.Size})
		w.Write(append(line, '\n'))
		if listed++; listed%1000 == 0 {
			if err := w.Flush(); err != nil {
				return err
			}
			return list.Sync()
		}
		return nil
	}})
	if ferr := w.Flush(); err == nil {
		err = ferr
	}
	list.Close()
	var self syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &self)
	fmt.Printf("cpu %v of wall %v\n", time.Duration(self.Utime.Nano()+self.Stime.Nano()).Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	if status, rerr := os.ReadFile("/proc/self/status"); rerr == nil {
		for line := range strings.Lines(string(status)) {
			if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
				fmt.Print("rss ", strings.TrimSpace(v), "\n")
			}
		}
	}
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	fmt.Printf("versions %d markers %d removed %v\n", rm.Versions, rm.DeleteMarkers, rm.BucketRemoved)
	return 0
}

// note and newMetrics: see testenv.Note and testenv.Metrics.
var (
	note       = testenv.Note
	newMetrics = testenv.NewMetrics
)

// timed runs cmd and returns its wall time and output. Dirty pages are
// written back first, so that no run pays for the writes of the one
// before it.
func timed(b *testing.B, cmd *exec.Cmd) (time.Duration, string) {
	b.Helper()
	syscall.Sync()
	start := time.Now()
	out, err := cmd.CombinedOutput()
	d := time.Since(start)
	if err != nil {
		b.Fatalf("%s: %v\n%s", filepath.Base(cmd.Args[0]), err, out)
	}
	return d, string(out)
}
