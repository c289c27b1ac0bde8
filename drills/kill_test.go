package drills

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"steward/internal/config"
	"steward/internal/testenv"
	"steward/restore"
)

// The test binary acts as a steward process that runs one drill when
// helperEnv names a config (for the SIGKILL tests). helperSourceEnv names
// the source to drill; helperResticEnv and helperPgRestoreEnv, when set,
// replace restic and pg_restore by fault-injecting wrappers.
const (
	helperEnv          = "STEWARD_DRILL_HELPER"
	helperSourceEnv    = "STEWARD_DRILL_HELPER_SOURCE"
	helperResticEnv    = "STEWARD_DRILL_HELPER_RESTIC"
	helperPgRestoreEnv = "STEWARD_DRILL_HELPER_PG_RESTORE"
)

func TestMain(m *testing.M) {
	if v := os.Getenv(helperEnv); v != "" {
		os.Exit(helperMain(v))
	}
	os.Exit(m.Run())
}

func helperMain(path string) int {
	cfg, err := config.Load(path)
	if err != nil {
		fmt.Println("config:", err)
		return 2
	}
	if p := os.Getenv(helperResticEnv); p != "" {
		cfg.Restic.Path = p
	}
	f := openFixture(&testing.T{}, cfg)
	d := f.d
	if p := os.Getenv(helperPgRestoreEnv); p != "" {
		rst := restore.New(restore.Deps{Repos: f.repos, Audit: f.audit, PgRestore: p})
		d = New(Deps{Repos: f.repos, Restorer: rst, Store: f.store, Audit: f.audit})
	}
	d.hookRestoring = func() { fmt.Println("restoring") }
	_, err = d.Run(context.Background(), RunOptions{Job: "j", Source: os.Getenv(helperSourceEnv)})
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	fmt.Println("finished")
	return 0
}

// stallingRestic writes a restic that stalls midway (fault injection): a
// restore once it has written every file, a dump after its first 4 KiB;
// other commands run as they are.
func stallingRestic(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "restic-stalling")
	script := fmt.Sprintf(`#!/bin/sh
for a in "$@"; do
	case "$a" in
	restore) '%[1]s' "$@"; sleep 600; exit 1 ;;
	dump) '%[1]s' "$@" | { head -c 4096; sleep 600; cat; }; exit 1 ;;
	esac
done
exec '%[1]s' "$@"
`, testenv.Bin(t, "restic"))
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// slowPgRestore writes a pg_restore that sleeps before it starts: the
// scratch database exists, the dump is not loaded yet.
func slowPgRestore(t *testing.T, dir string, pg *testenv.Postgres) string {
	t.Helper()
	p := filepath.Join(dir, "pg_restore-slow")
	script := fmt.Sprintf("#!/bin/sh\nsleep 600\nexec '%s' \"$@\"\n", filepath.Join(pg.BinDir, "pg_restore"))
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// killMidRestore starts a steward process (this test binary) that drills
// source with env added, waits until it restores and made reports its
// scratch copy present, then kills it and everything it started with
// SIGKILL. It returns the killed drill's record as it was left.
func (w *world) killMidRestore(t *testing.T, ctx context.Context, source string, env []string, made func() bool) *Record {
	t.Helper()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), helperEnv+"="+filepath.Join(w.dir, "steward.yaml"), helperSourceEnv+"="+source), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pgid := cmd.Process.Pid
	t.Cleanup(func() { syscall.Kill(-pgid, syscall.SIGKILL) })
	lines := make(chan string, 16)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	for restoring := false; !restoring; {
		select {
		case line, ok := <-lines:
			if !ok || line == "finished" || strings.HasPrefix(line, "error") {
				cmd.Wait()
				t.Fatalf("the drill ended before it could be killed: %q", line)
			}
			restoring = line == "restoring"
		case <-ctx.Done():
			t.Fatal("the drill never started restoring")
		}
	}
	deadline := time.Now().Add(time.Minute)
	for !made() {
		if time.Now().After(deadline) {
			t.Fatal("no scratch copy appeared while the drill restored")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := syscall.Kill(-pgid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	// Nothing of the killed process group (restic, the wrappers) lives on.
	for i := 0; syscall.Kill(-pgid, 0) == nil; i++ {
		if i == 100 {
			t.Fatal("processes of the killed drill are still running")
		}
		time.Sleep(20 * time.Millisecond)
	}
	recs, err := w.d.List(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if r.Source == source && r.Result == "" {
			if len(r.Scratch) != 1 || r.Scratch[0].Gone {
				t.Fatalf("killed drill's scratch on record: %+v", r.Scratch)
			}
			return r
		}
	}
	t.Fatalf("no drill of %s is left marked running", source)
	return nil
}

// interrupted checks that the killed drill is now on record as
// interrupted, with its scratch removed and gone.
func (w *world) interrupted(t *testing.T, ctx context.Context, id string) {
	t.Helper()
	rec, err := w.d.Show(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Result != ResultInterrupted || rec.Cleanup.Result != ResultPassed || rec.Finished.IsZero() ||
		len(rec.Scratch) != 1 || !rec.Scratch[0].Removed || !rec.Scratch[0].Gone || !strings.Contains(strings.Join(rec.Deviations, " "), "interrupted") {
		t.Fatalf("killed drill's record after cleanup: %+v", rec)
	}
}

// TestKilledMidRestore: a steward process (and its restic) killed with
// SIGKILL while a drill restores leaves its scratch copy and a drill
// marked running. The next drill run, or `drill cleanup`, finds it by its
// recorded name, removes it, checks by listing that it is gone, says so
// and marks the killed drill interrupted. Restic and pg_restore are
// slowed by wrappers so that the kill lands mid-restore every time.
func TestKilledMidRestore(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	w := newWorld(t, ctx, 2)
	stall := stallingRestic(t, w.dir)

	t.Run("dir: the next drill run removes it and says so", func(t *testing.T) {
		killed := w.killMidRestore(t, ctx, "files", []string{helperResticEnv + "=" + stall}, func() bool {
			ents, _ := os.ReadDir(w.cfg.Drills.Scratch.Dir)
			if len(ents) != 1 {
				return false
			}
			files, _ := os.ReadDir(filepath.Join(w.cfg.Drills.Scratch.Dir, ents[0].Name()))
			return len(files) > 0
		})
		left := killed.Scratch[0]
		if left.Kind != ScratchDir || filepath.Dir(left.Name) != w.cfg.Drills.Scratch.Dir {
			t.Fatalf("recorded scratch %+v", left)
		}
		if _, err := os.Stat(left.Name); err != nil {
			t.Fatalf("the killed drill left no scratch dir: %v", err)
		}

		var said []Event
		recs, err := w.d.Run(ctx, RunOptions{Job: "j", Source: "files", Progress: func(ev Event) {
			if ev.Kind == EventLeftover {
				said = append(said, ev)
			}
		}})
		if err != nil || len(recs) != 1 || recs[0].Result != ResultPassed {
			t.Fatalf("next drill: %v %+v", err, recs)
		}
		rec := recs[0]
		if len(rec.Leftovers) != 1 || rec.Leftovers[0].Name != left.Name || rec.Leftovers[0].Kind != ScratchDir ||
			!rec.Leftovers[0].Removed || !rec.Leftovers[0].Gone || rec.Leftovers[0].Drill != killed.DrillID {
			t.Fatalf("leftovers on the next drill's record: %+v", rec.Leftovers)
		}
		if len(said) != 1 || said[0].DrillID != killed.DrillID || !strings.Contains(said[0].Name, left.Name) || !strings.Contains(said[0].Detail, "not listed") {
			t.Fatalf("leftover events: %+v", said)
		}
		body, _ := json.Marshal(rec)
		if !bytes.Contains(body, []byte(`"leftovers_removed":[{"kind":"dir","name":"`+left.Name+`"`)) {
			t.Fatalf("record JSON lacks leftovers_removed: %s", body)
		}
		if stored, err := w.d.Show(ctx, rec.DrillID); err != nil || len(stored.Leftovers) != 1 {
			t.Fatalf("stored record's leftovers: %v %v", stored, err)
		}
		if _, err := os.Stat(left.Name); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("leftover still there: %v", err)
		}
		w.noScratch(t, ctx)
		w.interrupted(t, ctx, killed.DrillID)
		if n := auditCount(t, w.store, "drill.cleanup", "ok"); n != 1 {
			t.Fatalf("%d cleanups audited", n)
		}
	})

	t.Run("database: drill cleanup drops it", func(t *testing.T) {
		var listed []string
		killed := w.killMidRestore(t, ctx, "db", []string{helperPgRestoreEnv + "=" + slowPgRestore(t, w.dir, w.pg)}, func() bool {
			listed = listed[:0]
			for _, row := range w.pg.Query(t, "postgres", "SELECT datname FROM pg_database WHERE datname LIKE 'steward_drill_%'") {
				listed = append(listed, row[0].(string))
			}
			return len(listed) > 0
		})
		left := killed.Scratch[0]
		if left.Kind != ScratchDatabase || len(listed) != 1 || listed[0] != left.Name || left.Name != DatabaseName(killed.DrillID) {
			t.Fatalf("recorded %+v, listed %v", left, listed)
		}
		rep, err := w.d.Cleanup(ctx)
		if err != nil {
			t.Fatalf("cleanup: %v", err)
		}
		if len(rep.Drills) != 1 || rep.Drills[0] != killed.DrillID || len(rep.Removed) != 1 || rep.Removed[0].Drill != killed.DrillID ||
			rep.Removed[0].Name != left.Name || !rep.Removed[0].Gone {
			t.Fatalf("cleanup report %+v", rep)
		}
		w.noScratch(t, ctx)
		w.interrupted(t, ctx, killed.DrillID)
	})

	t.Run("bucket: drill cleanup deletes every version and the bucket", func(t *testing.T) {
		var name string
		killed := w.killMidRestore(t, ctx, "bucket", []string{helperResticEnv + "=" + stall}, func() bool {
			bs, err := w.mc.ListBuckets(ctx)
			if err != nil {
				return false
			}
			for _, b := range bs {
				if strings.HasPrefix(b.Name, "scratch-") {
					name = b.Name
					for o := range w.mc.ListObjects(ctx, name, minio.ListObjectsOptions{Recursive: true}) {
						return o.Err == nil
					}
				}
			}
			return false
		})
		left := killed.Scratch[0]
		if left.Kind != ScratchBucket || left.Name != name || name != BucketName("scratch", killed.DrillID) {
			t.Fatalf("recorded %+v, listed %s", left, name)
		}
		// Versions beyond what the restore wrote: an overwritten object
		// and a deleted one (a delete marker).
		if err := w.mc.EnableVersioning(ctx, name); err != nil {
			t.Fatal(err)
		}
		var keys []string
		for o := range w.mc.ListObjects(ctx, name, minio.ListObjectsOptions{Recursive: true}) {
			keys = append(keys, o.Key)
		}
		if _, err := w.mc.PutObject(ctx, name, keys[0], strings.NewReader("v2"), 2, minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := w.mc.RemoveObject(ctx, name, keys[len(keys)-1], minio.RemoveObjectOptions{}); err != nil {
			t.Fatal(err)
		}
		versions, markers := 0, 0
		for o := range w.mc.ListObjects(ctx, name, minio.ListObjectsOptions{Recursive: true, WithVersions: true}) {
			if o.Err != nil {
				t.Fatal(o.Err)
			}
			if o.IsDeleteMarker {
				markers++
			} else {
				versions++
			}
		}
		if versions < len(keys)+1 || markers != 1 {
			t.Fatalf("%d keys: %d versions, %d delete markers", len(keys), versions, markers)
		}

		rep, err := w.d.Cleanup(ctx)
		if err != nil {
			t.Fatalf("cleanup: %v", err)
		}
		want := fmt.Sprintf("deleted %d versions, %d delete markers", versions, markers)
		if len(rep.Drills) != 1 || rep.Drills[0] != killed.DrillID || len(rep.Removed) != 1 || rep.Removed[0].Drill != killed.DrillID || rep.Removed[0].Name != name ||
			!rep.Removed[0].Gone || !strings.Contains(rep.Removed[0].Detail, want) {
			t.Fatalf("cleanup report %+v, want %q", rep, want)
		}
		if ok, err := w.mc.BucketExists(ctx, name); err != nil || ok {
			t.Fatalf("scratch bucket exists: %t %v", ok, err)
		}
		w.noScratch(t, ctx)
		w.interrupted(t, ctx, killed.DrillID)
	})
}
