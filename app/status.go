package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"steward/backup"
	"steward/drills"

	"steward/internal/audit"
	"steward/internal/catalog"
	"steward/internal/clock"
	"steward/internal/config"
	"steward/internal/keys"
	"steward/internal/repo"
	"steward/internal/resticx"
	"steward/internal/state"
	"steward/recovery"
)

// StatusResult is what Steward would work with: the config, the state dir,
// clock sync, restic and the audit log's head, with warnings.
type StatusResult struct {
	Config      string           `json:"config"`
	Contract    string           `json:"contract"`
	Customer    string           `json:"customer"`
	EndDate     string           `json:"end_date"`
	DaysLeft    int              `json:"days_left"`
	TimeZone    string           `json:"time_zone"`
	Now         string           `json:"now"`
	Clock       clock.SyncStatus `json:"clock_sync"`
	StateDir    string           `json:"state_dir"`
	Initialised bool             `json:"initialised"`
	Schema      int              `json:"catalog_schema,omitempty"`
	// Catalog is where the catalog is: the SQLite file, or the
	// PostgreSQL database as user@host:port/database.
	Catalog      string   `json:"catalog,omitempty"`
	AuditRecords int64    `json:"audit_head_seq"`
	AuditHead    string   `json:"audit_head_hash,omitempty"`
	Restic       string   `json:"restic,omitempty"`
	ResticVer    string   `json:"restic_version,omitempty"`
	Certificate  string   `json:"certificate_sha256,omitempty"`
	CertNotAfter string   `json:"certificate_not_after,omitempty"`
	Repositories []string `json:"repositories"`
	// Health is each repository's last verdict (check or drill) known to
	// the catalog.
	Health  []repo.Health `json:"repository_health,omitempty"`
	Sources []string      `json:"sources"`
	Jobs    []string      `json:"jobs"`
	// Backups is each job's sources: the newest run, the newest success
	// and its age, the next scheduled run.
	Backups []BackupStatus `json:"backups,omitempty"`
	// LastDrill is the newest finished drill (nil: none yet).
	LastDrill *DrillStatus `json:"last_drill,omitempty"`
	// NextDrill is when drills.schedule next runs a drill ("" unscheduled).
	NextDrill string   `json:"next_drill,omitempty"`
	Warnings  []string `json:"warnings"`
	// Attention lists what makes `steward status` exit with
	// ErrAttention: a backup older than drills.rpo_target, a drill or
	// check that failed or is overdue, an unsynchronised clock. Empty when
	// everything is fresh.
	Attention []string `json:"attention"`
}

// BackupStatus is one source of one job.
type BackupStatus struct {
	Job        string `json:"job"`
	Source     string `json:"source"`
	Repository string `json:"repository"`
	// LastRun and LastResult are the newest finished run's start and
	// result.
	LastRun    string `json:"last_run,omitempty"`
	LastResult string `json:"last_result,omitempty"`
	// LastSuccess is when the newest successful run finished; Age is how
	// long ago (whole seconds).
	LastSuccess string  `json:"last_success,omitempty"`
	Age         string  `json:"age,omitempty"`
	AgeSeconds  float64 `json:"age_seconds,omitempty"`
	Schedule    string  `json:"schedule,omitempty"`
	NextRun     string  `json:"next_run,omitempty"`
}

// DrillStatus is one drill.
type DrillStatus struct {
	ID         string `json:"id"`
	Job        string `json:"job"`
	Source     string `json:"source"`
	Repository string `json:"repository"`
	Started    string `json:"started"`
	Result     string `json:"result"`
}

// ErrAttention means `steward status` found something that needs an
// operator (StatusResult.Attention says what); the CLI exits with its own
// code so that a monitoring system can run it.
var ErrAttention = errors.New("attention needed")

// overdueGrace is how long after a scheduled time a drill may still not
// have started before it counts as overdue.
const overdueGrace = time.Hour

// Status reads the config and the state dir (which need not be
// initialised) and changes nothing.
func Status(ctx context.Context, o Options) (*StatusResult, error) {
	cfg, err := o.LoadConfig()
	if err != nil {
		return nil, err
	}
	c, err := o.ZonedClock(cfg)
	if err != nil {
		return nil, err
	}
	now := c.Now()
	res := &StatusResult{
		Config:   o.ConfigSource(),
		Contract: cfg.Contract.ID, Customer: cfg.Contract.Customer, EndDate: cfg.Contract.EndDate.String(),
		TimeZone: cfg.Contract.TimeZone, Now: c.Format(now), StateDir: cfg.StateDir,
		Clock:    o.clockSync(ctx),
		Warnings: ConfigWarnings(cfg, c),
	}
	if res.Config == "" {
		res.Config = "(embedded default)"
	}
	res.DaysLeft = int(cfg.Contract.EndDate.End(c.Location()).Sub(now).Hours() / 24)
	for _, r := range cfg.Repositories {
		res.Repositories = append(res.Repositories, r.Name+" ("+r.Kind()+")")
	}
	for _, s := range cfg.Sources {
		res.Sources = append(res.Sources, s.Name+" ("+s.Kind()+")")
	}
	for _, j := range cfg.Jobs {
		res.Jobs = append(res.Jobs, j.Name)
	}
	if err := res.readState(ctx, cfg, c); err != nil {
		return nil, err
	}
	switch {
	case res.Initialised && res.Clock.State == clock.Unsynchronised:
		res.Attention = append(res.Attention, "the clock is "+res.Clock.String()+": Steward's times are evidence (req 15); synchronise it")
	case res.Clock.State != clock.Synchronised:
		res.Warnings = append(res.Warnings, "clock is "+res.Clock.String()+": logged times may drift (req 15)")
	}
	if res.Attention == nil {
		res.Attention = []string{}
	}
	if cert, err := keys.LoadCertificate(cfg.Signing.Certificate); err == nil {
		res.Certificate = keys.Fingerprint(cert)
		res.CertNotAfter = c.Format(cert.NotAfter)
		if cert.NotAfter.Sub(now) < 90*24*time.Hour {
			res.Warnings = append(res.Warnings, "the signing certificate expires on "+res.CertNotAfter+": renew it before signing reports")
		}
	} else if res.Initialised {
		res.Warnings = append(res.Warnings, "signing certificate: "+err.Error())
	}
	if bin, v, err := resticx.Find(ctx, cfg.Restic.Path); err == nil {
		res.Restic, res.ResticVer = bin, v
	} else {
		res.Warnings = append(res.Warnings, err.Error())
	}
	return res, nil
}

// readState fills in the catalog's schema and the audit head.
func (res *StatusResult) readState(ctx context.Context, cfg *config.Config, c *clock.Zoned) error {
	dir := state.Dir(cfg.StateDir)
	kr, _ := keys.Open(cfg.StateDir) // nil without one: only a sealed catalog password needs it
	store, err := catalog.OpenConfigured(ctx, cfg, kr)
	switch {
	case errors.Is(err, catalog.ErrNoCatalog):
		res.Warnings = append(res.Warnings, "state dir is not initialised: run `steward init`")
		return nil
	case err != nil:
		return err
	}
	defer store.Close()
	res.Initialised = true
	if s, ok := store.(*catalog.SQLite); ok && s.ReadOnly() != nil {
		ro := s.ReadOnly()
		res.Warnings = append(res.Warnings, "catalog: "+ro.Error()+"; until then Steward reads the catalog but records nothing (no backup, drill or audit record)")
	}
	res.Schema, _ = store.SchemaVersion(ctx)
	res.Catalog = catalog.Describe(cfg)
	book := repo.HealthBook{KV: store}
	for _, r := range cfg.Repositories {
		h, ok, err := book.Get(ctx, r.Name)
		switch {
		case err != nil:
			res.Warnings = append(res.Warnings, err.Error())
		case !ok:
			res.Warnings = append(res.Warnings, fmt.Sprintf("repository %s has never been checked or drilled: run `steward repo check %s` or `steward drill run --repository %s`", r.Name, r.Name, r.Name))
		default:
			res.Health = append(res.Health, h)
			if h.Failing() {
				res.Warnings = append(res.Warnings, fmt.Sprintf("repository %s is FAILING (%s): repair or replace it, then run `steward repo check %s`", r.Name, h, r.Name))
			}
		}
	}
	var names []string
	for _, r := range cfg.Repositories {
		names = append(names, r.Name)
	}
	kit, kitErr := recovery.LastKit(ctx, store)
	res.Warnings = append(res.Warnings, recoveryWarnings(kit, kitErr, names, dir.SealedPassword)...)
	seq, hash, err := audit.New(store, dir.AuditMirror(), c).Head(ctx)
	if err != nil && !errors.Is(err, catalog.ErrNotFound) {
		return err
	}
	res.AuditRecords, res.AuditHead = seq, hash
	since := initTime(ctx, store)
	if err := res.readBackups(ctx, cfg, c, store, since); err != nil {
		return err
	}
	return res.readDrills(ctx, cfg, c, store, since)
}

// initTime is when the state dir was initialised (its first audit
// record), the zero time if unknown.
func initTime(ctx context.Context, store catalog.AuditStore) time.Time {
	var first time.Time
	stop := errors.New("stop")
	_ = store.ScanAudit(ctx, func(r catalog.AuditRecord) error {
		first = parseTime(r.Time)
		return stop
	})
	return first
}

// readBackups fills in each job's sources and flags a source whose
// newest success is older than drills.rpo_target (or, never backed up,
// whose state dir is).
func (res *StatusResult) readBackups(ctx context.Context, cfg *config.Config, c *clock.Zoned, store catalog.RunStore, since time.Time) error {
	now, rpo := c.Now(), cfg.Drills.RPOTarget.D()
	for _, j := range cfg.Jobs {
		runs, err := store.JobRuns(ctx, j.Name, factsRuns)
		if err != nil {
			return err
		}
		next := ""
		if t, ok := nextRun(j.Schedule, now.In(c.Location())); ok {
			next = c.Format(t)
		}
		for _, src := range j.Sources {
			b := BackupStatus{Job: j.Name, Source: src, Repository: j.Repository, Schedule: j.Schedule, NextRun: next}
			for _, row := range runs {
				if row.Source != src || row.Result == "" {
					continue
				}
				if b.LastRun == "" {
					b.LastRun, b.LastResult = row.Started, row.Result
				}
				if row.Result == backup.ResultOK {
					b.LastSuccess = row.Finished
					break
				}
			}
			if b.LastResult != "" && b.LastResult != backup.ResultOK {
				res.Warnings = append(res.Warnings, fmt.Sprintf("job %s, source %s: the last backup (%s) %s: its record says why (`steward --json status`, or the daemon's /api/v1/runs)", j.Name, src, b.LastRun, b.LastResult))
			}
			switch last := parseTime(b.LastSuccess); {
			case !last.IsZero():
				age := now.Sub(last)
				b.Age, b.AgeSeconds = age.Truncate(time.Second).String(), age.Truncate(time.Second).Seconds()
				if age > rpo {
					res.Attention = append(res.Attention, fmt.Sprintf("job %s, source %s: the newest backup is %s old, older than drills.rpo_target %s: run `steward backup run --job %s` and find why the schedule did not", j.Name, src, b.Age, cfg.Drills.RPOTarget, j.Name))
				}
			case !since.IsZero() && now.Sub(since) > rpo:
				res.Attention = append(res.Attention, fmt.Sprintf("job %s, source %s: never backed up, and the state dir is older than drills.rpo_target %s: run `steward backup run --job %s`", j.Name, src, cfg.Drills.RPOTarget, j.Name))
			}
			res.Backups = append(res.Backups, b)
		}
	}
	return nil
}

// readDrills fills in the newest drill and the next scheduled one, and
// flags a failed newest drill, a drill overdue by drills.schedule, and a
// repository whose last check or drill failed.
func (res *StatusResult) readDrills(ctx context.Context, cfg *config.Config, c *clock.Zoned, store catalog.DrillStore, since time.Time) error {
	now := c.Now()
	rows, err := store.Drills(ctx, 50)
	if err != nil {
		return err
	}
	for _, row := range rows {
		if row.Result == "" {
			continue
		}
		rec := drillRecord(row)
		res.LastDrill = &DrillStatus{ID: row.ID, Job: row.Job, Source: rec.Source, Repository: rec.Repository, Started: row.Started, Result: row.Result}
		if row.Result != drills.ResultPassed {
			res.Attention = append(res.Attention, fmt.Sprintf("drill %s (%s from %s) %s: see `steward drill show %s`", row.ID, rec.Source, rec.Repository, row.Result, row.ID))
		}
		break
	}
	for _, h := range res.Health {
		if h.Failing() {
			res.Attention = append(res.Attention, fmt.Sprintf("repository %s: the last check or drill failed (%s)", h.Repository, h))
		}
	}
	if cfg.Drills.Schedule == "" {
		return nil
	}
	if t, ok := nextRun(cfg.Drills.Schedule, now.In(c.Location())); ok {
		res.NextDrill = c.Format(t)
	}
	from := since
	if res.LastDrill != nil {
		from = parseTime(res.LastDrill.Started)
	}
	if due, ok := nextRun(cfg.Drills.Schedule, from.In(c.Location())); ok && !from.IsZero() && now.After(due.Add(overdueGrace)) {
		res.Attention = append(res.Attention, fmt.Sprintf("a drill was due by drills.schedule %q at %s and has not run: run `steward drill run`", cfg.Drills.Schedule, c.Format(due)))
	}
	return nil
}

// nextRun is the first time after t that a schedule names, in t's zone
// (the contract's), parsed as `steward serve` parses it
// (config.ParseSchedule); false for no schedule or one that does not parse
// (config check says why).
func nextRun(schedule string, t time.Time) (time.Time, bool) {
	if schedule == "" {
		return time.Time{}, false
	}
	sched, err := config.ParseSchedule(schedule, t.Location(), t)
	if err != nil {
		return time.Time{}, false
	}
	next := sched.Next(t)
	return next, !next.IsZero()
}

// minCoolingOff is the shortest erase cooling-off that does not draw a
// warning.
const minCoolingOff = 24 * time.Hour

// ConfigWarnings are things in a valid config that need attention: the
// contract's end, jobs without a replica, a short erase cooling-off,
// secret files others may read.
func ConfigWarnings(cfg *config.Config, c *clock.Zoned) []string {
	var ws []string
	left := cfg.Contract.EndDate.End(c.Location()).Sub(c.Now())
	switch {
	case left <= 0:
		ws = append(ws, fmt.Sprintf("the contract ended on %s: erase its data (req 23)", cfg.Contract.EndDate))
	case left <= 90*24*time.Hour:
		ws = append(ws, fmt.Sprintf("the contract ends on %s (%d days): plan the hand-over and erasure", cfg.Contract.EndDate, int(left.Hours()/24)))
	}
	for _, j := range cfg.Jobs {
		if len(j.Replicas) == 0 {
			ws = append(ws, fmt.Sprintf("job %q has no replica: req 18 asks for a second location", j.Name))
		}
	}
	if co := cfg.Erase.CoolingOff.D(); co < minCoolingOff {
		ws = append(ws, fmt.Sprintf("erase.cooling_off is %s: an approved erasure could run before anyone notices a mistake (req 12); use at least 24h outside tests", cfg.Erase.CoolingOff))
	}
	for _, fs := range cfg.SecretRefs() {
		scheme, path := fs.Ref.Parts()
		if scheme != config.SchemeFile {
			continue
		}
		if st, err := os.Stat(path); err == nil && st.Mode().Perm()&0o077 != 0 {
			ws = append(ws, fmt.Sprintf("%s: secret file %s has mode %04o, so other users may read it: run `chmod 600 %s`", fs.Path, path, st.Mode().Perm(), path))
		}
	}
	return ws
}
