package schedule

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/go-co-op/gocron/v2"
	"github.com/jonboulle/clockwork"

	"steward/internal/config"
)

// Func is one run of a job. It must return soon after ctx is cancelled.
type Func func(ctx context.Context) error

// Job is periodic work.
type Job struct {
	// Name names the job in logs ("backup:daily", "drill", "check").
	Name string
	// Schedule is a schedule as config.ParseSchedule accepts it.
	Schedule string
	Run      Func
	// LastRun, when set, says when the job last ran (the zero time when it
	// never did), read from the catalog: a job whose schedule fired since
	// then — one missed while the daemon was down — runs once at Start.
	LastRun func(ctx context.Context) (time.Time, error)
	// Local runs the job on every daemon, also when Options.Locker is set:
	// it watches this host (its clock), not the shared work.
	Local bool
}

// Options configure a Scheduler.
type Options struct {
	// Location is the contract's time zone: every schedule is read in it.
	Location *time.Location
	// Clock drives the schedules (nil: the system clock; tests pass a
	// clockwork fake).
	Clock clockwork.Clock
	// StopTimeout is how long Shutdown waits for running jobs after
	// cancelling them (default 30s).
	StopTimeout time.Duration
	// Log receives one line per run (nil: discarded).
	Log *slog.Logger
	// Missed, when set, is told of each job whose schedule fired while it
	// did not run (the daemon was down), before that run is made up at
	// Start: the job, its last run and when it was due. A job that never
	// ran is not missed.
	Missed func(job string, lastRun, due time.Time)
	// Serial runs one job at a time: a job due while another runs waits
	// for it (Steward's runs share repositories and their locks).
	Serial bool
	// Locker, when set, is asked before every run (scheduled or missed) of
	// a job that is not Local, with the key RunKey(job, due): daemons that
	// share it make each scheduled run once (req 18). A run whose Lock
	// fails is skipped: another daemon makes it, or made it. A Lock with
	// a Lost() <-chan struct{} method cancels the run when it is lost.
	Locker gocron.Locker
}

// RunKey is the key of job's run due at due (RFC 3339 in the schedule's
// zone; "first" for the first run of a job that never ran), as Locker is
// given it.
func RunKey(job, due string) string { return job + "@" + due }

// SplitRunKey is the inverse of RunKey.
func SplitRunKey(key string) (job, due string, ok bool) {
	i := strings.LastIndexByte(key, '@')
	if i < 0 {
		return "", "", false
	}
	return key[:i], key[i+1:], true
}

// Scheduler runs Jobs. Add them, then Start; Shutdown once.
type Scheduler struct {
	opts    Options
	gs      gocron.Scheduler
	jobs    []*entry
	ctx     context.Context // cancelled by Shutdown: ends missed runs
	cancel  context.CancelFunc
	started bool
	turn    chan struct{} // held by the running job when Serial

	mu       sync.Mutex // guards stopping and running.Add
	stopping bool
	running  sync.WaitGroup
}

// entry is one added job and its guard against overlapping itself.
type entry struct {
	Job
	cron gocron.Cron
	busy sync.Mutex
	gj   gocron.Job
}

// New builds a Scheduler in opts.Location.
func New(opts Options) (*Scheduler, error) {
	if opts.Location == nil {
		return nil, fmt.Errorf("schedule: no time zone")
	}
	if opts.Clock == nil {
		opts.Clock = clockwork.NewRealClock()
	}
	if opts.StopTimeout <= 0 {
		opts.StopTimeout = 30 * time.Second
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	gs, err := gocron.NewScheduler(gocron.WithLocation(opts.Location), gocron.WithClock(opts.Clock),
		gocron.WithStopTimeout(opts.StopTimeout))
	if err != nil {
		return nil, fmt.Errorf("schedule: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Scheduler{opts: opts, gs: gs, ctx: ctx, cancel: cancel, turn: make(chan struct{}, 1)}, nil
}

// Add schedules j. Its schedule is checked as config check checks it.
func (s *Scheduler) Add(j Job) error {
	if s.started {
		return ErrStarted
	}
	c, err := config.ParseSchedule(j.Schedule, s.opts.Location, s.opts.Clock.Now())
	if err != nil {
		return fmt.Errorf("job %s: %w", j.Name, err)
	}
	e := &entry{Job: j, cron: c}
	e.gj, err = s.gs.NewJob(gocron.CronJob(j.Schedule, true),
		gocron.NewTask(func(ctx context.Context) {
			_ = s.run(ctx, e, "schedule", s.format(prevFire(e.cron, s.opts.Clock.Now())))
		}),
		gocron.WithName(j.Name), gocron.WithSingletonMode(gocron.LimitModeReschedule))
	if err != nil {
		return fmt.Errorf("job %s: %w", j.Name, err)
	}
	s.jobs = append(s.jobs, e)
	return nil
}

// Start runs, one after the other and in the order they were added, the
// jobs whose last run is older than their period (never run counts), then
// starts the schedules. It returns at once.
func (s *Scheduler) Start() {
	s.started = true
	due := s.due()
	s.running.Add(1)
	go func() {
		defer s.running.Done()
		_ = s.runAll(s.ctx, due)
	}()
	s.gs.Start()
	for _, e := range s.jobs {
		if next, err := e.gj.NextRun(); err == nil {
			s.opts.Log.Info("scheduled", "job", e.Name, "schedule", e.Schedule, "next_run", next.In(s.opts.Location).Format(time.RFC3339))
		}
	}
}

// RunDue runs, one after the other and in the order they were added, the
// jobs whose last run is older than their period (never run counts), as
// Start does, but waits for them and does not start the schedules (for
// `steward serve --once`). It returns the names of the jobs that were due
// and their errors, joined. Call Shutdown afterwards.
func (s *Scheduler) RunDue(ctx context.Context) ([]string, error) {
	if s.started {
		return nil, ErrStarted
	}
	s.started = true
	due := s.due()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(s.ctx, cancel) // Shutdown cancels it too
	defer stop()
	names := make([]string, len(due))
	for i, d := range due {
		names[i] = d.e.Name
	}
	return names, s.runAll(ctx, due)
}

// dueRun is an overdue job and when its run was due (see RunKey).
type dueRun struct {
	e   *entry
	due string
}

// due are the jobs overdue now.
func (s *Scheduler) due() []dueRun {
	now := s.opts.Clock.Now()
	var due []dueRun
	for _, e := range s.jobs {
		if at, ok := s.overdue(e, now); ok {
			due = append(due, dueRun{e, at})
		}
	}
	return due
}

// runAll runs jobs in turn until ctx ends, and joins their errors.
func (s *Scheduler) runAll(ctx context.Context, jobs []dueRun) error {
	var errs []error
	for _, d := range jobs {
		if ctx.Err() != nil {
			errs = append(errs, fmt.Errorf("%s: not run: %w", d.e.Name, ctx.Err()))
			continue
		}
		if err := s.run(ctx, d.e, "missed", d.due); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", d.e.Name, err))
		}
	}
	return errors.Join(errs...)
}

// overdue says whether e's schedule fired since its last run, and when
// the run was due ("first" for a job that never ran).
func (s *Scheduler) overdue(e *entry, now time.Time) (string, bool) {
	if e.LastRun == nil {
		return "", false
	}
	last, err := e.LastRun(s.ctx)
	if err != nil {
		s.opts.Log.Warn("last run unknown: not run at start", "job", e.Name, "error", err)
		return "", false
	}
	if last.IsZero() {
		s.opts.Log.Info("never run: runs now", "job", e.Name)
		return "first", true
	}
	due := e.cron.Next(last.In(s.opts.Location))
	if due.IsZero() || due.After(now) {
		return "", false
	}
	s.opts.Log.Info("missed run: runs now", "job", e.Name, "last_run", last.In(s.opts.Location).Format(time.RFC3339),
		"was_due", due.Format(time.RFC3339))
	if s.opts.Missed != nil {
		s.opts.Missed(e.Name, last, due)
	}
	return s.format(due), true
}

// format is the text of a due time in RunKey.
func (s *Scheduler) format(t time.Time) string { return t.In(s.opts.Location).Format(time.RFC3339) }

// prevFire is the newest time c fired at or before now: the scheduled
// time of the run gocron starts at now.
func prevFire(c gocron.Cron, now time.Time) time.Time {
	for back := time.Minute; back <= 800*24*time.Hour; back *= 4 {
		t := c.Next(now.Add(-back))
		if t.IsZero() || t.After(now) {
			continue
		}
		for {
			n := c.Next(t)
			if n.IsZero() || n.After(now) {
				return t
			}
			t = n
		}
	}
	return now.Truncate(time.Second)
}

// run runs e once unless it is already running (here, or, with a Locker,
// on another daemon) or another daemon made its run due at due, and
// returns its error (nil when it was skipped).
func (s *Scheduler) run(ctx context.Context, e *entry, trigger, due string) error {
	if !e.busy.TryLock() {
		s.opts.Log.Warn("still running: this run is skipped", "job", e.Name, "trigger", trigger)
		return nil
	}
	defer e.busy.Unlock()
	s.mu.Lock()
	if s.stopping {
		s.mu.Unlock()
		return nil
	}
	s.running.Add(1)
	s.mu.Unlock()
	defer s.running.Done()
	log := s.opts.Log.With("job", e.Name, "trigger", trigger)
	if s.opts.Serial {
		select {
		case s.turn <- struct{}{}:
			defer func() { <-s.turn }()
		case <-ctx.Done():
			log.Warn("not run: stopping while it waited for another job")
			return fmt.Errorf("not run: %w", ctx.Err())
		}
	}
	if s.opts.Locker != nil && !e.Local {
		lock, err := s.opts.Locker.Lock(ctx, RunKey(e.Name, due))
		if err != nil {
			log.Info("not run here", "due", due, "reason", err)
			return nil
		}
		defer func() { _ = lock.Unlock(context.WithoutCancel(ctx)) }()
		if l, ok := lock.(interface{ Lost() <-chan struct{} }); ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithCancel(ctx)
			defer cancel()
			go func() {
				select {
				case <-l.Lost():
					log.Error("the run's lock was lost (the connection to the catalog ended): the run is cancelled", "due", due)
					cancel()
				case <-ctx.Done():
				}
			}()
		}
		log = log.With("due", due)
	}
	start := s.opts.Clock.Now()
	log.Info("run started")
	err := e.Run(ctx)
	took := s.opts.Clock.Since(start).Round(time.Millisecond)
	switch {
	case err != nil && ctx.Err() != nil:
		log.Warn("run cancelled", "took", took, "error", err)
	case err != nil:
		log.Error("run failed", "took", took, "error", err)
	default:
		log.Info("run finished", "took", took)
	}
	return err
}

// Shutdown stops the schedules, cancels the context of every running job
// and waits for them to return, at most StopTimeout (or until ctx ends).
func (s *Scheduler) Shutdown(ctx context.Context) error {
	s.cancel()
	s.mu.Lock()
	s.stopping = true
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, s.opts.StopTimeout)
	defer cancel()
	done := make(chan struct{})
	go func() {
		_ = s.gs.ShutdownWithContext(ctx) // cancels the jobs' contexts
		s.running.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ErrStopTimedOut
	}
}
