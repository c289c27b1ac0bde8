package resticx

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func TestLivenessObserve(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	busy := func(n uint64) sign { return sign{ok: true, counters: [8]uint64{n}} }
	l := newLiveness(t0)
	steps := []struct {
		name   string
		now    time.Time
		s      sign
		output int64
		feed   int32
		idle   time.Duration
	}{
		{"first sample only sets the baseline", at(1), busy(1), 0, 0, time.Second},
		{"CPU time moved", at(2), busy(2), 0, 0, 0},
		{"nothing moved", at(4), busy(2), 0, 0, 2 * time.Second},
		{"output is a sign of life", at(5), busy(2), 10, 0, 0},
		{"stopped process: counters changed before the stop do not count", at(7), sign{ok: true, stopped: true, counters: [8]uint64{3}}, 10, 0, 2 * time.Second},
		{"still stopped", at(9), sign{ok: true, stopped: true, counters: [8]uint64{3}}, 10, 0, 4 * time.Second},
		{"continued and working", at(10), busy(4), 10, 0, 0},
		{"no /proc: only output tells", at(13), sign{}, 10, 0, 3 * time.Second},
		{"waiting on Steward's own input is not a stall", at(14), sign{}, 10, 1, 0},
		{"input came, then silence", at(20), sign{}, 10, 0, 6 * time.Second},
	}
	for _, s := range steps {
		l.output.Store(s.output)
		l.feeding.Store(s.feed)
		if got := l.observe(s.now, s.s); got != s.idle {
			t.Fatalf("%s: idle %s, want %s", s.name, got, s.idle)
		}
	}
	if !strings.Contains(l.what("check", "tokyo", "/srv/repo", 6*time.Second), `restic check on repository "tokyo" (/srv/repo)`) {
		t.Fatalf("what: %s", l.what("check", "tokyo", "/srv/repo", 6*time.Second))
	}
}

func TestSampleSeesStopAndWork(t *testing.T) {
	s := sample(os.Getpid())
	if !s.ok || s.stopped {
		t.Fatalf("own process: %+v", s)
	}
	// Burn some CPU and write: the counters must move.
	x := 0
	for deadline := time.Now().Add(50 * time.Millisecond); time.Now().Before(deadline); {
		for i := range 100_000 {
			x += i
		}
	}
	os.WriteFile(filepath.Join(t.TempDir(), "f"), bytes.Repeat([]byte{byte(x)}, 1<<16), 0o600)
	if s2 := sample(os.Getpid()); s2.counters == s.counters {
		t.Fatalf("counters did not move: %v", s.counters)
	}
	if s := sample(1 << 30); s.ok {
		t.Fatal("a missing process gave a sample")
	}
	sleep := exec.Command("sleep", "30")
	if err := sleep.Start(); err != nil {
		t.Fatal(err)
	}
	defer sleep.Wait()
	defer sleep.Process.Kill()
	if s := sample(sleep.Process.Pid); !s.ok || s.stopped {
		t.Fatalf("running sleep: %+v", s)
	}
	sleep.Process.Signal(syscall.SIGSTOP)
	for deadline := time.Now().Add(5 * time.Second); !sample(sleep.Process.Pid).stopped; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("a SIGSTOPped process is not seen as stopped")
		}
	}
}

// TestWatchdogStopsStoppedRestic stops (SIGSTOP) the real restic binary
// during a `restic check`: the call must fail within StallAfter plus a
// margin, as ErrStalled naming restic, the subcommand, the repository and
// that the process is stopped; the wait must be reported meanwhile; and
// the repository must be left unlocked (the next check runs clean).
func TestWatchdogStopsStoppedRestic(t *testing.T) {
	ctx := context.Background()
	r, repo := newRunner(t)
	if err := r.Init(ctx, repo); err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	os.WriteFile(filepath.Join(data, "a.txt"), []byte("hello"), 0o644)
	if _, err := r.Run(ctx, repo, Call{Args: []string{"backup", data}}); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	r.Log = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	r.StallAfter = 1500 * time.Millisecond
	var pid atomic.Int64
	r.Started = func(p int) {
		pid.Store(int64(p))
		if err := syscall.Kill(p, syscall.SIGSTOP); err != nil {
			t.Error(err)
		}
	}
	var waits atomic.Int32
	start := time.Now()
	_, err := r.Run(ctx, repo, Call{Args: []string{"check"}, OnWait: func(time.Duration) { waits.Add(1) }})
	took := time.Since(start)
	if !errors.Is(err, ErrStalled) {
		t.Fatalf("err = %v, want ErrStalled", err)
	}
	if took > r.StallAfter+5*time.Second {
		t.Fatalf("took %s, stall deadline %s", took, r.StallAfter)
	}
	for _, want := range []string{"restic check", `repository "test"`, repo.Location, "state T", "restic.stall_timeout"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if waits.Load() == 0 || !strings.Contains(logs.String(), "restic is not answering") {
		t.Errorf("the wait was not reported (OnWait %d times); log:\n%s", waits.Load(), logs.String())
	}
	if err := syscall.Kill(int(pid.Load()), 0); !errors.Is(err, syscall.ESRCH) {
		t.Fatalf("restic %d still exists: %v", pid.Load(), err)
	}
	t.Logf("stopped restic failed the call in %s", took.Round(time.Millisecond))
	r.Started = nil
	if _, err := r.Run(ctx, repo, Call{Args: []string{"check"}}); err != nil {
		t.Fatalf("check after the stall: %v", err)
	}
}

// TestWatchdogSparesInputWait: a `backup --stdin` whose input Steward
// writes only after longer than StallAfter waits for Steward, not for
// restic, and must not be stopped (the backup's manifest companion).
func TestWatchdogSparesInputWait(t *testing.T) {
	ctx := context.Background()
	r, repo := newRunner(t)
	if err := r.Init(ctx, repo); err != nil {
		t.Fatal(err)
	}
	r.StallAfter = 500 * time.Millisecond
	pr, pw := io.Pipe()
	go func() {
		time.Sleep(3 * r.StallAfter)
		pw.Write([]byte("late input"))
		pw.Close()
	}()
	res, err := r.Run(ctx, repo, Call{Args: []string{"backup", "--stdin"}, Stdin: pr})
	if err != nil || res.Summary == nil || res.Summary.SnapshotID == "" {
		t.Fatalf("backup of late input: %+v, %v", res, err)
	}
}
