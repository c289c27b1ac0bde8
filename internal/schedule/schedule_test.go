package schedule

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"go.uber.org/goleak"
)

var tokyo = mustZone("Asia/Tokyo")

func mustZone(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return loc
}

func newScheduler(t *testing.T, c clockwork.Clock) *Scheduler {
	t.Helper()
	s, err := New(Options{Location: tokyo, Clock: c, StopTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// counter counts the runs of a job and the most that ran at once.
type counter struct {
	runs, now, most atomic.Int32
	hold            time.Duration
}

func (c *counter) run(ctx context.Context) error {
	c.runs.Add(1)
	n := c.now.Add(1)
	defer c.now.Add(-1)
	for m := c.most.Load(); n > m && !c.most.CompareAndSwap(m, n); m = c.most.Load() {
	}
	select {
	case <-time.After(c.hold):
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestMissedRunRunsOnceAtStart(t *testing.T) {
	defer goleak.VerifyNone(t)
	// 03:00 in Tokyo; the jobs run daily at 02:00.
	now := time.Date(2026, 4, 1, 3, 0, 0, 0, tokyo)
	c := clockwork.NewFakeClockAt(now)
	var told []string
	s, err := New(Options{Location: tokyo, Clock: c, StopTimeout: 5 * time.Second, Missed: func(job string, last, due time.Time) {
		told = append(told, job+" due "+due.In(tokyo).Format(time.RFC3339))
	}})
	if err != nil {
		t.Fatal(err)
	}
	last := func(t time.Time) func(context.Context) (time.Time, error) {
		return func(context.Context) (time.Time, error) { return t, nil }
	}
	var missed, fresh, never, noHistory counter
	for _, j := range []Job{
		{Name: "missed", Schedule: "0 2 * * *", Run: missed.run, LastRun: last(now.Add(-25 * time.Hour))}, // 02:00 today passed since
		{Name: "fresh", Schedule: "0 2 * * *", Run: fresh.run, LastRun: last(now.Add(-30 * time.Minute))}, // ran at 02:30
		{Name: "never", Schedule: "0 2 * * *", Run: never.run, LastRun: last(time.Time{})},
		{Name: "no-history", Schedule: "0 2 * * *", Run: noHistory.run},
	} {
		if err := s.Add(j); err != nil {
			t.Fatal(err)
		}
	}
	s.Start()
	waitFor(t, "the missed and never-run jobs", func() bool { return missed.runs.Load() == 1 && never.runs.Load() == 1 })
	time.Sleep(200 * time.Millisecond) // the fake clock stands still: nothing else may run
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if m, f, n, h := missed.runs.Load(), fresh.runs.Load(), never.runs.Load(), noHistory.runs.Load(); m != 1 || f != 0 || n != 1 || h != 0 {
		t.Fatalf("runs at start: missed %d, fresh %d, never %d, no history %d; want 1, 0, 1, 0", m, f, n, h)
	}
	// Only the run missed while the daemon was down is told of (the alert).
	if strings.Join(told, ",") != "missed due 2026-04-01T02:00:00+09:00" {
		t.Fatalf("Missed told of %v", told)
	}
}

func TestJobNeverOverlapsItself(t *testing.T) {
	defer goleak.VerifyNone(t)
	s := newScheduler(t, nil)
	// Every second, each run taking 2.5 s; it is also overdue at start,
	// so the missed run and the schedule trigger it at the same time.
	slow := counter{hold: 2500 * time.Millisecond}
	err := s.Add(Job{Name: "slow", Schedule: "* * * * * *", Run: slow.run,
		LastRun: func(context.Context) (time.Time, error) { return time.Time{}, nil }})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	time.Sleep(4 * time.Second)
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if most := slow.most.Load(); most != 1 {
		t.Fatalf("%d runs of one job at once, want 1", most)
	}
	if runs := slow.runs.Load(); runs < 1 || runs > 2 {
		t.Fatalf("%d runs of a 2.5 s job in 4 s, want 1 or 2", runs)
	}
}

func TestShutdownCancelsRunningJobs(t *testing.T) {
	defer goleak.VerifyNone(t)
	s := newScheduler(t, nil)
	started := make(chan struct{})
	var once sync.Once
	var sawCancel atomic.Bool
	err := s.Add(Job{Name: "long", Schedule: "@every 1h", Run: func(ctx context.Context) error {
		once.Do(func() { close(started) })
		<-ctx.Done()
		sawCancel.Store(true)
		return ctx.Err()
	}, LastRun: func(context.Context) (time.Time, error) { return time.Time{}, nil }})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	<-started
	t0 := time.Now()
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !sawCancel.Load() {
		t.Fatal("Shutdown returned before the job saw its context cancelled")
	}
	if d := time.Since(t0); d > 3*time.Second {
		t.Fatalf("Shutdown took %s", d)
	}
}

func TestShutdownDeadline(t *testing.T) {
	s, err := New(Options{Location: tokyo, StopTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	started := make(chan struct{})
	err = s.Add(Job{Name: "stubborn", Schedule: "@every 1h", Run: func(ctx context.Context) error {
		close(started)
		<-release // ignores its context
		return nil
	}, LastRun: func(context.Context) (time.Time, error) { return time.Time{}, nil }})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	<-started
	if err := s.Shutdown(context.Background()); !errors.Is(err, ErrStopTimedOut) {
		t.Fatalf("Shutdown = %v, want ErrStopTimedOut", err)
	}
	close(release)
}

func TestAddRefusesBadSchedule(t *testing.T) {
	s := newScheduler(t, nil)
	defer s.Shutdown(context.Background())
	for _, bad := range []string{"TZ=0", "CRON_TZ=Asia/Tokyo * * * * *", "", "@every -1s"} {
		if err := s.Add(Job{Name: "x", Schedule: bad, Run: func(context.Context) error { return nil }}); err == nil {
			t.Errorf("Add(%q) accepted", bad)
		}
	}
}

func TestSerialRunsOneJobAtATime(t *testing.T) {
	defer goleak.VerifyNone(t)
	s, err := New(Options{Location: tokyo, Serial: true, StopTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var now, most, runs atomic.Int32
	job := func(ctx context.Context) error {
		n := now.Add(1)
		defer now.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		runs.Add(1)
		time.Sleep(300 * time.Millisecond)
		return nil
	}
	never := func(context.Context) (time.Time, error) { return time.Time{}, nil }
	for _, name := range []string{"a", "b", "c"} {
		if err := s.Add(Job{Name: name, Schedule: "* * * * * *", Run: job, LastRun: never}); err != nil {
			t.Fatal(err)
		}
	}
	s.Start()
	time.Sleep(2500 * time.Millisecond)
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if most.Load() != 1 || runs.Load() < 3 {
		t.Fatalf("%d runs, at most %d at once; want at least 3, one at a time", runs.Load(), most.Load())
	}
}

// TestRunDue: RunDue runs the due jobs in the order added, waits for
// them, returns their names and their errors joined (naming the job), and
// starts no schedule: a later tick of the clock runs nothing.
func TestRunDue(t *testing.T) {
	defer goleak.VerifyNone(t)
	now := time.Date(2026, 4, 1, 3, 0, 0, 0, tokyo)
	c := clockwork.NewFakeClockAt(now)
	s := newScheduler(t, c)
	var order []string
	job := func(name string, last time.Time, err error) Job {
		return Job{Name: name, Schedule: "0 2 * * *",
			Run:     func(context.Context) error { order = append(order, name); return err },
			LastRun: func(context.Context) (time.Time, error) { return last, nil }}
	}
	refused := errors.New("hook refused")
	for _, j := range []Job{
		job("never", time.Time{}, nil),
		job("fresh", now.Add(-time.Hour), nil), // ran at 02:00 today: not due
		job("failing", now.AddDate(0, 0, -2), refused),
		job("missed", now.AddDate(0, 0, -2), nil),
	} {
		if err := s.Add(j); err != nil {
			t.Fatal(err)
		}
	}
	ran, err := s.RunDue(context.Background())
	if got := strings.Join(ran, ","); got != "never,failing,missed" || strings.Join(order, ",") != got {
		t.Fatalf("ran %v, order %v", ran, order)
	}
	if !errors.Is(err, refused) || !strings.Contains(err.Error(), "failing: hook refused") {
		t.Fatalf("err %v", err)
	}
	if _, err := s.RunDue(context.Background()); !errors.Is(err, ErrStarted) {
		t.Fatalf("second RunDue: %v", err)
	}
	c.Advance(48 * time.Hour)
	time.Sleep(50 * time.Millisecond)
	if len(order) != 3 {
		t.Fatalf("a schedule ran after RunDue: %v", order)
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}
