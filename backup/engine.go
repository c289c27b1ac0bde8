package backup

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"steward/internal/audit"
	"steward/internal/catalog"
	"steward/internal/clock"
	"steward/internal/config"
	"steward/internal/keys"
	"steward/internal/resticx"
)

// Store is what the engine keeps in the catalog (catalog.SQLite has it).
type Store interface {
	PutRun(ctx context.Context, r catalog.RunRow) error
	Run(ctx context.Context, id string) (catalog.RunRow, error)
	RunsWithResult(ctx context.Context, repository, result string) ([]catalog.RunRow, error)
	PutSnapshot(ctx context.Context, r catalog.SnapshotRow) error
	Snapshot(ctx context.Context, repository, snapshotID string) (catalog.SnapshotRow, error)
	DeleteSnapshot(ctx context.Context, repository, snapshotID string) error
	PutManifest(ctx context.Context, m catalog.ManifestRow) error
	LatestManifest(ctx context.Context, repository, source string) (catalog.ManifestRow, error)
}

// Auditor appends audit records (audit.Log has it).
type Auditor interface {
	Append(ctx context.Context, e audit.Entry) (audit.Record, error)
}

// Deps is what the engine needs; the CLI's loader builds it.
type Deps struct {
	Config  *config.Config
	Keys    *keys.Keyring
	Restic  *resticx.Runner
	Catalog Store
	Audit   Auditor
	Clock   *clock.Zoned
	Log     *slog.Logger
	// PgDump overrides where pg_dump is looked for (default: the server's
	// major version under /usr/lib/postgresql, then PATH).
	PgDump string
	// LockWait is how long a run waits for a repository another Steward
	// run holds; zero refuses at once with ErrBusy.
	LockWait time.Duration
	// ProbeTimeout bounds each check before a backup (endpoints, buckets,
	// databases, repositories); default 20s.
	ProbeTimeout time.Duration
}

// Engine runs backups. It is safe for concurrent use; repository file
// locks serialize runs that share a repository.
type Engine struct {
	cfg      *config.Config
	keys     *keys.Keyring
	restic   *resticx.Runner
	store    Store
	auditLog Auditor
	clock    *clock.Zoned
	log      *slog.Logger
	pgDump   string
	lockWait time.Duration
	probe    time.Duration
	tmpAge   time.Duration // see staleTmpAge
}

// New returns an engine over deps.
func New(d Deps) *Engine {
	log := d.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	clk := d.Clock
	if clk == nil {
		loc, _ := clock.LoadZone(d.Config.Contract.TimeZone)
		clk = clock.New(loc, nil)
	}
	return &Engine{cfg: d.Config, keys: d.Keys, restic: d.Restic, store: d.Catalog, auditLog: d.Audit, clock: clk,
		log: log.With("component", "backup"), pgDump: d.PgDump, lockWait: d.LockWait, probe: d.ProbeTimeout, tmpAge: staleTmpAge}
}

func (e *Engine) probeTimeout() time.Duration {
	if e.probe > 0 {
		return e.probe
	}
	return 20 * time.Second
}

// RunOptions says what Run does.
type RunOptions struct {
	// Job names the job ("" when the config has exactly one).
	Job string
	// DryRun checks everything (secrets, residency, endpoints, buckets,
	// databases, pg_dump, repositories) and writes nothing.
	DryRun bool
	// Progress, when set, receives events as the run goes (from the run's
	// goroutine; it must not block for long).
	Progress func(Event)
}

// Event kinds.
const (
	EventCheck     = "check"     // a residency/probe answer
	EventStart     = "start"     // a source's backup begins
	EventProgress  = "progress"  // bytes and files so far
	EventDone      = "done"      // a source's snapshot is saved
	EventFailed    = "failed"    // a source, a copy or retention failed
	EventCopy      = "copy"      // a snapshot was copied to a replica
	EventRetention = "retention" // retention applied to a repository
)

// Event is one progress event. Names of files or objects never appear.
type Event struct {
	Time       time.Time `json:"time"`
	Kind       string    `json:"kind"`
	Job        string    `json:"job"`
	Source     string    `json:"source,omitempty"`
	Repository string    `json:"repository,omitempty"`
	BytesDone  int64     `json:"bytes_done,omitempty"`
	// BytesTotal is 0 when unknown (a database dump's size is known only
	// at its end).
	BytesTotal int64   `json:"bytes_total,omitempty"`
	FilesDone  int64   `json:"files_done,omitempty"`
	FilesTotal int64   `json:"files_total,omitempty"`
	Rate       float64 `json:"rate,omitempty"` // bytes per second
	// ETA is the estimated time left, 0 when unknown.
	ETA        time.Duration `json:"eta,omitempty"`
	SnapshotID string        `json:"snapshot_id,omitempty"`
	Message    string        `json:"message,omitempty"`
	Error      string        `json:"error,omitempty"`
}

// Copy is one replica copy of a snapshot.
type Copy struct {
	Repository string `json:"repository"`
	// Method is "direct" (one restic copy) or "relay" (through a local
	// staging repository, for replicas whose S3 credentials or region
	// differ from the primary's).
	Method string `json:"method,omitempty"`
	Result string `json:"result"`
	Error  string `json:"error,omitempty"`
}

// RunRecord is one source's run, as kept in the catalog.
type RunRecord struct {
	ID         string      `json:"id"`
	Job        string      `json:"job"`
	Source     string      `json:"source"`
	Kind       string      `json:"kind"`
	Repository string      `json:"repository"`
	SnapshotID string      `json:"snapshot_id,omitempty"`
	ManifestID string      `json:"manifest_snapshot_id,omitempty"`
	Started    string      `json:"started"`
	Finished   string      `json:"finished,omitempty"`
	BytesRead  int64       `json:"bytes_read"`
	DataAdded  int64       `json:"data_added"`
	Files      int64       `json:"files"`
	Copies     []Copy      `json:"replica_copies,omitempty"`
	Residency  []Residency `json:"residency"`
	// ManifestSHA256 is the SHA-256 of the manifest's JSON body.
	ManifestSHA256 string `json:"manifest_sha256,omitempty"`
	// ManifestReused says the source was unchanged since the previous
	// run: its manifest (same body, same SHA-256) is the one already in
	// the repository as snapshot ManifestID, which the data snapshot names
	// in its tag manifest:<ManifestID>; no new companion was written.
	ManifestReused bool `json:"manifest_reused,omitempty"`
	// Result is ResultOK, ResultFailed, ResultRefused or ResultInterrupted
	// ("" while running).
	Result string `json:"result"`
	Error  string `json:"error,omitempty"`
	DryRun bool   `json:"dry_run,omitempty"`
}

// Run results.
const (
	ResultOK          = "ok"
	ResultFailed      = "failed"
	ResultRefused     = "refused"
	ResultInterrupted = "interrupted"
	ResultChecked     = "checked" // dry run: everything checked, nothing written
)

// Report is what Run did.
type Report struct {
	Job        string      `json:"job"`
	Repository string      `json:"repository"`
	Replicas   []string    `json:"replicas,omitempty"`
	Residency  []Residency `json:"residency"`
	Runs       []RunRecord `json:"runs"`
	// Retention holds one line per repository retention was applied to.
	Retention []string `json:"retention,omitempty"`
	DryRun    bool     `json:"dry_run,omitempty"`
}

// newID is a run id: the time in the configured zone and random bits.
func (e *Engine) newID(prefix string) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return prefix + e.clock.Now().Format("20060102T150405") + "-" + hex.EncodeToString(b[:])
}

func (e *Engine) now() string { return e.clock.Format(e.clock.Now()) }

func (e *Engine) audit(ctx context.Context, action, target, result string, details map[string]string) {
	if e.auditLog == nil {
		return
	}
	if _, err := e.auditLog.Append(context.WithoutCancel(ctx), audit.Entry{Action: action, Target: target, Result: result, Details: details}); err != nil {
		e.log.Error("audit append failed", "action", action, "err", err)
	}
}

func (e *Engine) saveRun(ctx context.Context, r *RunRecord) error {
	if e.store == nil {
		return nil
	}
	body, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return e.store.PutRun(context.WithoutCancel(ctx), catalog.RunRow{ID: r.ID, Job: r.Job, Source: r.Source, Repository: r.Repository,
		SnapshotID: r.SnapshotID, Started: r.Started, Finished: r.Finished, Result: r.Result, Record: body})
}

// errText is an error's message for records: one line.
func errText(err error) string {
	if err == nil {
		return ""
	}
	return strings.ReplaceAll(err.Error(), "\n", "; ")
}

// job finds the job to run.
func (e *Engine) job(name string) (*config.Job, error) {
	if name == "" {
		if len(e.cfg.Jobs) == 1 {
			return &e.cfg.Jobs[0], nil
		}
		names := make([]string, 0, len(e.cfg.Jobs))
		for _, j := range e.cfg.Jobs {
			names = append(names, j.Name)
		}
		return nil, fmt.Errorf("%w: name one with --job (jobs: %s)", ErrNoJob, strings.Join(names, ", "))
	}
	j, ok := e.cfg.Job(name)
	if !ok {
		return nil, fmt.Errorf("%w %q: see jobs in the config", ErrNoJob, name)
	}
	return j, nil
}

// emit sends an event if anyone listens.
func emit(opts RunOptions, ev Event) {
	if opts.Progress != nil {
		opts.Progress(ev)
	}
}

// sourceErr names the source in a run's error.
func sourceErr(source string, err error) error {
	return fmt.Errorf("source %q: %w: %w", source, ErrSourceFailed, err)
}

var errInterrupted = errors.New("interrupted")
