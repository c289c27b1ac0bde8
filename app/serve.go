package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/jonboulle/clockwork"

	"steward/backup"
	"steward/drills"
	"steward/erase"
	"steward/internal/catalog"
	"steward/internal/errs"
	"steward/internal/notify"
	"steward/internal/repo"
	"steward/internal/schedule"
	"steward/internal/server"
)

// ServeOptions configure the daemon.
type ServeOptions struct {
	// StopTimeout is how long running work may take to stop once ctx is
	// cancelled (default 30s; restic gets SIGINT and 15s of it).
	StopTimeout time.Duration
	// Clock drives the schedules (nil: the system clock).
	Clock clockwork.Clock
	// Out receives the lines an operator reads (what is scheduled, that
	// the daemon stopped); logs go to the App's logger.
	Out io.Writer
	// Listen overrides server.listen (host:port; port 0 picks a free one).
	Listen string
	// Once runs what is due at start (never-run and missed jobs) and
	// stops, instead of serving until ctx is cancelled; an error if one
	// of those runs failed.
	Once bool
	// App are the options the app was opened with (the API's status reads
	// the state dir as `steward status` does).
	App Options
}

// drillRotationKey is the catalog key of the next scheduled drill's place
// in the rotation over (job, source, repository).
const drillRotationKey = "schedule.drill_rotation"

// Serve runs the contract's scheduled work until ctx is cancelled: each
// job's backup on jobs[].schedule (retention is part of every backup run),
// one drill per drills.schedule rotating over every job's sources and over
// its primary and every replica, and a check of every repository on
// checks.schedule (drills.schedule when it is not set). Every run is the
// same call the CLI makes, so it is recorded the same way. A run missed
// while the daemon was down runs once at start. Once ctx is cancelled,
// running work is cancelled and waited for, at most StopTimeout. A frozen
// contract (erase started) schedules nothing.
func (a *App) Serve(ctx context.Context, o ServeOptions) error {
	out := o.Out
	if out == nil {
		out = io.Discard
	}
	log := a.Log.With("component", "serve")
	// A catalog that can only read (its disk was full, or read-only, when
	// it was opened) stays so for the process's life: every scheduled run
	// would fail to be recorded, even once space is back. Refuse to start,
	// so that the service manager's restart picks the catalog up again.
	if ro, ok := a.Catalog.(interface{ ReadOnly() error }); ok && ro.ReadOnly() != nil {
		return fmt.Errorf("serve: catalog: %w and start the daemon again; nothing was scheduled", ro.ReadOnly())
	}
	n, err := a.Notifier()
	if err != nil {
		return err
	}
	// The HTTP server (health, metrics, the API) runs also when the
	// contract is frozen: status and reports stay readable.
	h, err := a.ServerHandler(ctx, o.App, nil)
	if err != nil {
		return err
	}
	srvCfg := a.Config.Server
	if o.Listen != "" {
		srvCfg.Listen = o.Listen
	}
	hctx, stopHTTP := context.WithCancel(context.WithoutCancel(ctx))
	l, err := server.Listen(hctx, srvCfg, h, a.Log.With("component", "server"))
	if err != nil {
		stopHTTP()
		return err
	}
	defer func() {
		stopHTTP()
		if err := l.Wait(); err != nil {
			log.Warn("http server", "error", err)
		}
	}()
	fmt.Fprintf(out, "web console at %s/ui/ (operator accounts: steward user add)\n", l.URL())
	fmt.Fprintf(out, "status and API at %s (bearer token in %s: steward token show)\n", l.URL(), a.State.APIToken())
	// A quick catalog read, not cut short by a stop during start-up.
	if err := a.checkNotFrozen(context.WithoutCancel(ctx), "scheduled backups, drills and checks"); err != nil {
		if !errors.Is(err, erase.ErrFrozen) {
			return err
		}
		log.Warn("nothing is scheduled", "reason", err)
		fmt.Fprintf(out, "nothing is scheduled: %v\n", err)
		<-ctx.Done()
		return nil
	}
	opts := schedule.Options{Location: a.Clock.Location(), Clock: o.Clock, StopTimeout: o.StopTimeout, Serial: true,
		Log: a.Log.With("component", "schedule"),
		Missed: func(job string, _, due time.Time) {
			name, what := missedWhat(job)
			a.alert(ctx, n, MissedScheduleAlert(name, what, a.Clock.Format(due)), true)
		}}
	jobs := append(a.scheduledJobs(n), a.watchJob(n, o.App))
	if pg, ok := a.Catalog.(*catalog.Postgres); ok {
		if err := sharedSchedules(jobs); err != nil {
			return err
		}
		opts.Locker = schedule.CatalogLocker{Locks: pg, Claims: pg, Daemon: daemonName(), Now: func() string { return a.Clock.Format(a.Clock.Now()) }}
		fmt.Fprintf(out, "the catalog %s is shared: every scheduled run is made once by one of the daemons using it (as %s)\n", pg.Name(), daemonName())
	}
	sched, err := schedule.New(opts)
	if err != nil {
		return err
	}
	for _, j := range jobs {
		if err := sched.Add(j); err != nil {
			_ = sched.Shutdown(context.Background())
			return fmt.Errorf("serve: %w", err)
		}
		fmt.Fprintf(out, "scheduled %s: %s (%s)\n", j.Name, j.Schedule, a.Config.Contract.TimeZone)
	}
	if len(jobs) == 0 {
		fmt.Fprintln(out, "nothing is scheduled: no jobs[].schedule, drills.schedule or checks.schedule in the config")
	}
	if o.Once {
		return a.serveOnce(ctx, sched, out)
	}
	sched.Start()
	log.Info("serving", "schedules", len(jobs), "time_zone", a.Config.Contract.TimeZone)
	<-ctx.Done()
	log.Info("stopping: running work is cancelled")
	err = sched.Shutdown(context.Background())
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	fmt.Fprintln(out, "stopped")
	return nil
}

// serveOnce runs the jobs due now, one after the other, and stops.
func (a *App) serveOnce(ctx context.Context, sched *schedule.Scheduler, out io.Writer) error {
	fmt.Fprintln(out, "--once: running what is due now, then stopping")
	ran, runErr := sched.RunDue(ctx)
	if err := sched.Shutdown(context.Background()); err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	var done []string
	for _, name := range ran {
		if name != "watch" { // the clock and contract-end check runs at every start
			done = append(done, name)
		}
	}
	if runErr != nil {
		return fmt.Errorf("serve --once: %w", runErr)
	}
	if len(done) == 0 {
		fmt.Fprintln(out, "nothing was due; stopped")
		return nil
	}
	fmt.Fprintf(out, "ran %s; stopped\n", strings.Join(done, ", "))
	return nil
}

// sharedSchedules refuses, with a shared catalog, a schedule whose runs
// daemons cannot agree on: @every counts from each daemon's own start.
func sharedSchedules(jobs []schedule.Job) error {
	for _, j := range jobs {
		if !j.Local && strings.HasPrefix(strings.TrimSpace(j.Schedule), "@every") {
			return errs.Usage("schedule of %s: %q counts from each daemon's start, so daemons sharing the catalog cannot agree on its runs: use a cron expression (e.g. \"0 */6 * * *\" for every six hours, \"*/5 * * * * *\" for every five seconds)", j.Name, j.Schedule)
		}
	}
	return nil
}

// daemonName names this daemon in the claims of the runs it makes.
func daemonName() string {
	host, err := os.Hostname()
	if err != nil {
		host = "unknown-host"
	}
	return fmt.Sprintf("%s/pid-%d", host, os.Getpid())
}

// missedWhat names a scheduled job in a missed-schedule alert: the
// config's job name (if any) and what was missed.
func missedWhat(job string) (name, what string) {
	if j, ok := strings.CutPrefix(job, "backup:"); ok {
		return j, "the backup of job " + j
	}
	if job == "drill" {
		return "", "the scheduled restore drill"
	}
	return "", "the scheduled repository check"
}

// contractEndWarning is how long before the contract's end the daemon
// warns, once a day, that the hand-over and erasure must be planned.
const contractEndWarning = 30

// watchJob checks, at start and hourly, the clock's synchronisation (an
// alert when it is lost, req 15) and the contract's end (an alert a day
// within contractEndWarning days, req 23).
func (a *App) watchJob(n *notify.Notifier, o Options) schedule.Job {
	var clockLost bool
	var endWarned string
	return schedule.Job{Name: "watch", Schedule: "0 * * * *", Local: true, // this host's clock
		LastRun: func(context.Context) (time.Time, error) { return time.Time{}, nil }, // at every start
		Run: func(ctx context.Context) error {
			al, lost := ClockAlert(o.clockSync(ctx))
			a.alert(ctx, n, al, lost && !clockLost)
			clockLost = lost
			now := a.Clock.Now()
			end := a.Config.Contract.EndDate.End(a.Clock.Location())
			days := int(end.Sub(now).Hours() / 24)
			if today := now.Format(time.DateOnly); days >= 0 && days <= contractEndWarning && endWarned != today {
				a.alert(ctx, n, ContractEndAlert(a.Config.Contract.ID, a.Config.Contract.EndDate.String(), days), true)
				endWarned = today
			}
			return nil
		}}
}

// scheduledJobs are the periodic runs the config asks for.
func (a *App) scheduledJobs(n *notify.Notifier) []schedule.Job {
	var jobs []schedule.Job
	for _, j := range a.Config.Jobs {
		if j.Schedule == "" {
			continue
		}
		name := j.Name
		jobs = append(jobs, schedule.Job{Name: "backup:" + name, Schedule: j.Schedule,
			Run:     func(ctx context.Context) error { return a.scheduledBackup(ctx, n, name) },
			LastRun: func(ctx context.Context) (time.Time, error) { return a.lastBackup(ctx, name) }})
	}
	checks := a.Config.Checks.Schedule
	if checks == "" {
		checks = a.Config.Drills.Schedule
	}
	if checks != "" {
		jobs = append(jobs, schedule.Job{Name: "check", Schedule: checks, Run: func(ctx context.Context) error { return a.scheduledCheck(ctx, n) }, LastRun: a.lastCheck})
	}
	if a.Config.Drills.Schedule != "" {
		jobs = append(jobs, schedule.Job{Name: "drill", Schedule: a.Config.Drills.Schedule, Run: func(ctx context.Context) error { return a.scheduledDrill(ctx, n) }, LastRun: a.lastDrill})
	}
	return jobs
}

// scheduledBackup runs job's backup as `steward backup run --job` does,
// with start/success/failure pings, and an alert when it failed. Work cut
// short by the daemon's own shutdown alerts nobody.
func (a *App) scheduledBackup(ctx context.Context, n *notify.Notifier, job string) error {
	_ = n.Ping(ctx, job, notify.PingStart) // a failed ping is in the audit log
	eng, err := a.Backup(ctx)
	var rep *backup.Report
	if err == nil {
		rep, err = eng.Run(ctx, backup.RunOptions{Job: job})
	}
	al, failed := BackupAlert(job, rep, err)
	a.alert(ctx, n, al, failed)
	ping := notify.PingSuccess
	if failed {
		ping = notify.PingFail
	}
	if ctx.Err() == nil {
		_ = n.Ping(ctx, job, ping)
	}
	return err
}

// alert sends al when send says so, unless the daemon is stopping (the
// run was cut short, not failed). A failure to send is in the audit log
// and the log.
func (a *App) alert(ctx context.Context, n *notify.Notifier, al notify.Alert, send bool) {
	if !send || ctx.Err() != nil {
		return
	}
	if err := n.Send(ctx, al); err != nil {
		a.Log.Warn("alert not sent", "component", "serve", "kind", al.Kind, "error", err)
	}
}

// lastBackup is when job's last run that ended started (zero if none
// did). A run still marked running when the scheduler asks (Steward was
// killed during it) or interrupted does not count: the backup it was to
// make was not made, so it is due at once, not at the next scheduled
// time.
func (a *App) lastBackup(ctx context.Context, job string) (time.Time, error) {
	runs, err := a.Catalog.JobRuns(ctx, job, lastBackupRuns)
	if err != nil {
		return time.Time{}, err
	}
	for _, r := range runs {
		if r.Result != "" && r.Result != backup.ResultInterrupted {
			return a.Clock.Parse(r.Started)
		}
	}
	return time.Time{}, nil
}

// lastBackupRuns is how many of a job's newest runs lastBackup reads: a
// job's sources each make a run, and a few may have been interrupted.
const lastBackupRuns = 50

// scheduledCheck checks every repository, as `steward repo check` does.
func (a *App) scheduledCheck(ctx context.Context, n *notify.Notifier) error {
	d, err := a.Driller(ctx)
	if err != nil {
		return err
	}
	var failed []error
	for _, r := range a.Config.Repositories {
		res, err := d.CheckRepository(ctx, r.Name)
		if err != nil {
			failed = append(failed, err)
		}
		al, bad := CheckAlert(r.Name, res, err)
		a.alert(ctx, n, al, bad)
		if ctx.Err() != nil {
			break
		}
	}
	return errors.Join(failed...)
}

// lastCheck is the oldest of the repositories' last verdicts (zero when
// one has none).
func (a *App) lastCheck(ctx context.Context) (time.Time, error) {
	var oldest time.Time
	for _, r := range a.Config.Repositories {
		h, ok, err := (repo.HealthBook{KV: a.Catalog}).Get(ctx, r.Name)
		if err != nil || !ok {
			return time.Time{}, err
		}
		t, err := a.Clock.Parse(h.Time)
		if err != nil {
			return time.Time{}, err
		}
		if oldest.IsZero() || t.Before(oldest) {
			oldest = t
		}
	}
	return oldest, nil
}

// drillTarget is one place a scheduled drill may go.
type drillTarget struct{ job, source, repository string }

// drillTargets are every (job, source, repository) of drills.jobs (every
// job when empty), the primary and every replica.
func (a *App) drillTargets() []drillTarget {
	var ts []drillTarget
	for _, j := range a.Config.Jobs {
		if len(a.Config.Drills.Jobs) > 0 && !slices.Contains(a.Config.Drills.Jobs, j.Name) {
			continue
		}
		for _, s := range j.Sources {
			for _, r := range append([]string{j.Repository}, j.Replicas...) {
				ts = append(ts, drillTarget{j.Name, s, r})
			}
		}
	}
	return ts
}

// scheduledDrill drills the next (job, source, repository) of the
// rotation, as `steward drill run --job J --source S --repository R` does;
// the rotation's place is kept in the catalog, so it goes on after a
// restart.
func (a *App) scheduledDrill(ctx context.Context, n *notify.Notifier) error {
	ts := a.drillTargets()
	if len(ts) == 0 {
		return nil
	}
	var next int
	if v, err := a.Catalog.Get(ctx, drillRotationKey); err == nil {
		_ = json.Unmarshal(v, &next)
	} else if !errors.Is(err, catalog.ErrNotFound) {
		return err
	}
	t := ts[((next%len(ts))+len(ts))%len(ts)]
	b, _ := json.Marshal(next + 1)
	if err := a.Catalog.Put(ctx, drillRotationKey, b); err != nil {
		return err
	}
	d, err := a.Driller(ctx)
	if err != nil {
		return err
	}
	a.Log.Info("scheduled drill", "component", "serve", "job", t.job, "source", t.source, "repository", t.repository)
	recs, err := d.Run(ctx, drills.RunOptions{Job: t.job, Source: t.source, Repository: t.repository, Trigger: drills.TriggerSchedule})
	al, failed := DrillAlert(t.job, recs, err)
	a.alert(ctx, n, al, failed)
	return err
}

// lastDrill is when the last drill that ended started (zero if none
// did). As for backups (lastBackup), a drill still marked running when
// the scheduler asks (Steward was killed during it) or interrupted does
// not count: it proved nothing, so the drill is due at once, not at the
// next scheduled time (a quarter later for a quarterly schedule).
func (a *App) lastDrill(ctx context.Context) (time.Time, error) {
	recs, err := a.Catalog.Drills(ctx, lastDrillRecords)
	if err != nil {
		return time.Time{}, err
	}
	for _, r := range recs {
		if r.Result != "" && r.Result != drills.ResultInterrupted {
			return a.Clock.Parse(r.Started)
		}
	}
	return time.Time{}, nil
}

// lastDrillRecords is how many of the newest drills lastDrill reads: a
// few may have been interrupted.
const lastDrillRecords = 20
