package schedule

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/go-co-op/gocron/v2"
	"go.uber.org/goleak"

	"steward/internal/config"
)

// memLocker is the pure logic of CatalogLocker over a map: a run key is
// granted once. (The PostgreSQL one is tested with real daemons in
// cmd/steward.)
type memLocker struct {
	mu   sync.Mutex
	keys map[string]string // key -> which scheduler
}

type memLock struct{}

func (memLock) Unlock(context.Context) error { return nil }

func (m *memLocker) as(who string) gocron.Locker { return &memLockerAs{m, who} }

type memLockerAs struct {
	m   *memLocker
	who string
}

func (l *memLockerAs) Lock(_ context.Context, key string) (gocron.Lock, error) {
	l.m.mu.Lock()
	defer l.m.mu.Unlock()
	if _, ok := l.m.keys[key]; ok {
		return nil, ErrRunElsewhere
	}
	l.m.keys[key] = l.who
	return memLock{}, nil
}

// Two schedulers sharing a Locker make each run of a job once, both at
// start (a job that never ran) and on schedule; a Local job runs on both.
func TestSharedLockerRunsEachRunOnce(t *testing.T) {
	defer goleak.VerifyNone(t)
	locks := &memLocker{keys: map[string]string{}}
	var mu sync.Mutex
	ran := map[string]int{}
	var local int
	mk := func(who string) *Scheduler {
		s, err := New(Options{Location: tokyo, StopTimeout: 5 * time.Second, Locker: locks.as(who)})
		if err != nil {
			t.Fatal(err)
		}
		err = s.Add(Job{Name: "backup:j", Schedule: "* * * * * *",
			LastRun: func(context.Context) (time.Time, error) { return time.Time{}, nil },
			Run: func(context.Context) error {
				mu.Lock()
				defer mu.Unlock()
				ran[who]++
				return nil
			}})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Add(Job{Name: "watch", Schedule: "0 0 * * *", Local: true,
			LastRun: func(context.Context) (time.Time, error) { return time.Time{}, nil },
			Run:     func(context.Context) error { mu.Lock(); local++; mu.Unlock(); return nil }}); err != nil {
			t.Fatal(err)
		}
		return s
	}
	a, b := mk("a"), mk("b")
	a.Start()
	b.Start()
	time.Sleep(3500 * time.Millisecond)
	for _, s := range []*Scheduler{a, b} {
		if err := s.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	locks.mu.Lock()
	defer locks.mu.Unlock()
	total := ran["a"] + ran["b"]
	if total != len(locks.keys) || total < 3 {
		t.Fatalf("runs %v for %d granted keys %v: want one run per key, at least 3", ran, len(locks.keys), locks.keys)
	}
	if _, ok := locks.keys["backup:j@first"]; !ok {
		t.Fatalf("the first run's key is missing: %v", locks.keys)
	}
	if local != 2 {
		t.Fatalf("the local job ran %d times at start, want once on each scheduler", local)
	}
}

// prevFire finds the scheduled time of the run that starts now.
func TestPrevFire(t *testing.T) {
	now := time.Date(2026, 4, 1, 3, 0, 7, 300e6, tokyo)
	for _, tt := range []struct{ sched, want string }{
		{"*/5 * * * * *", "2026-04-01T03:00:05+09:00"},
		{"0 2 * * *", "2026-04-01T02:00:00+09:00"},
		{"0 4 * * *", "2026-03-31T04:00:00+09:00"},
		{"0 0 1 1 *", "2026-01-01T00:00:00+09:00"},
	} {
		c, err := config.ParseSchedule(tt.sched, tokyo, now)
		if err != nil {
			t.Fatal(err)
		}
		if got := prevFire(c, now).In(tokyo).Format(time.RFC3339); got != tt.want {
			t.Errorf("prevFire(%q) = %s, want %s", tt.sched, got, tt.want)
		}
	}
	if job, due, ok := SplitRunKey(RunKey("backup:j", "2026-04-01T03:00:05+09:00")); !ok || job != "backup:j" || due != "2026-04-01T03:00:05+09:00" {
		t.Fatalf("SplitRunKey(RunKey) = %q %q %v", job, due, ok)
	}
}

// lostLock is a Lock whose connection the test ends.
type lostLock struct {
	lost     chan struct{}
	unlocked chan struct{}
}

func (l *lostLock) Unlock(context.Context) error { close(l.unlocked); return nil }
func (l *lostLock) Lost() <-chan struct{}        { return l.lost }

type oneLock struct{ l *lostLock }

func (o oneLock) Lock(context.Context, string) (gocron.Lock, error) { return o.l, nil }

// A run whose lock is lost (its catalog connection ended, so another
// daemon may take the job) is cancelled, and the lock is released after.
func TestLostLockCancelsTheRun(t *testing.T) {
	defer goleak.VerifyNone(t)
	l := &lostLock{lost: make(chan struct{}), unlocked: make(chan struct{})}
	s, err := New(Options{Location: tokyo, StopTimeout: 5 * time.Second, Locker: oneLock{l}})
	if err != nil {
		t.Fatal(err)
	}
	started, ended := make(chan struct{}), make(chan error, 1)
	if err := s.Add(Job{Name: "backup:j", Schedule: "0 0 1 1 *",
		LastRun: func(context.Context) (time.Time, error) { return time.Time{}, nil },
		Run: func(ctx context.Context) error {
			close(started)
			<-ctx.Done()
			ended <- ctx.Err()
			return ctx.Err()
		}}); err != nil {
		t.Fatal(err)
	}
	s.Start()
	defer s.Shutdown(context.Background())
	<-started
	close(l.lost)
	select {
	case err := <-ended:
		if err == nil {
			t.Fatal("run ended without a cancelled context")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the run went on after its lock was lost")
	}
	select {
	case <-l.unlocked:
	case <-time.After(5 * time.Second):
		t.Fatal("the lost lock was not released")
	}
}
