package backup

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"steward/internal/audit"
	"steward/internal/catalog"
	"steward/internal/clock"
	"steward/internal/config"
	"steward/internal/keys"
	"steward/internal/progress"
	"steward/internal/repo"
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
	PutManifest(ctx context.Context, m catalog.ManifestRow, body io.Reader) error
	ManifestBody(ctx context.Context, sha256 string) (io.ReadCloser, error)
	LatestManifest(ctx context.Context, repository, source string) (catalog.ManifestRow, error)
	// KV holds repositories' health verdicts (repo.HealthBook).
	catalog.KV
}

// Deps is what the engine needs; the CLI's loader builds it.
type Deps struct {
	Config  *config.Config
	Keys    *keys.Keyring
	Restic  *resticx.Runner
	Catalog Store
	Audit   audit.Appender
	// Repos opens the repositories; when nil, one is made from Config,
	// Keys, Restic, Audit, LockWait and ProbeTimeout.
	Repos *repo.Opener
	Clock *clock.Zoned
	Log   *slog.Logger
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
	cfg    *config.Config
	keys   *keys.Keyring
	restic *resticx.Runner
	store  Store
	rec    *audit.Recorder
	repos  *repo.Opener
	clock  *clock.Zoned
	log    *slog.Logger
	pgDump string
	tmpAge time.Duration // see staleTmpAge
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
	repos := d.Repos
	if repos == nil {
		repos = repo.New(repo.Deps{Config: d.Config, Keys: d.Keys, Restic: d.Restic, Audit: d.Audit, Log: log,
			LockWait: d.LockWait, ProbeTimeout: d.ProbeTimeout})
	}
	log = log.With("component", "backup")
	return &Engine{cfg: d.Config, keys: d.Keys, restic: d.Restic, store: d.Catalog, rec: audit.NewRecorder(d.Audit, log), repos: repos,
		clock: clk, log: log, pgDump: d.PgDump, tmpAge: staleTmpAge}
}

func (e *Engine) probeTimeout() time.Duration { return e.repos.ProbeTimeout() }

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

// Event kinds (see package progress).
const (
	EventCheck     = progress.Check     // a residency/probe answer
	EventStart     = progress.Start     // a source's backup begins
	EventProgress  = progress.Progress  // bytes and files so far
	EventDone      = progress.Done      // a source's snapshot is saved
	EventFailed    = progress.Failed    // a source, a copy or retention failed
	EventCopy      = progress.Copy      // a snapshot was copied to a replica
	EventRetention = progress.Retention // retention applied to a repository
)

// Event is one progress event. Names of files or objects never appear.
type Event = progress.Event

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
	ID         string `json:"id"`
	Job        string `json:"job"`
	Source     string `json:"source"`
	Kind       string `json:"kind"`
	Repository string `json:"repository"`
	SnapshotID string `json:"snapshot_id,omitempty"`
	ManifestID string `json:"manifest_snapshot_id,omitempty"`
	Started    string `json:"started"`
	Finished   string `json:"finished,omitempty"`
	BytesRead  int64  `json:"bytes_read"`
	DataAdded  int64  `json:"data_added"`
	// Files counts regular files (a path source: restic's own count, as
	// snapshots and restores show it), objects (a bucket source) or the
	// one dump file (a database).
	Files     int64            `json:"files"`
	Copies    []Copy           `json:"replica_copies,omitempty"`
	Residency []repo.Residency `json:"residency"`
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
	// CheckPending says the run failed while its repository did not
	// answer: the next run checks that it left no snapshot.
	CheckPending bool `json:"check_pending,omitempty"`
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
	Job string `json:"job"`
	// RunID names this run of the job (STEWARD_RUN_ID of its hooks; ""
	// for a dry run).
	RunID      string           `json:"run_id,omitempty"`
	Repository string           `json:"repository"`
	Replicas   []string         `json:"replicas,omitempty"`
	Residency  []repo.Residency `json:"residency"`
	Runs       []RunRecord      `json:"runs"`
	// Retention holds one line per repository retention was applied to.
	Retention []string `json:"retention,omitempty"`
	// Failing lists the job's repositories whose last check or drill
	// failed: their copies are not trusted until a check passes again.
	Failing []repo.Health `json:"failing_repositories,omitempty"`
	DryRun  bool          `json:"dry_run,omitempty"`
	// Hooks are the job's hooks that ran, in order.
	Hooks []HookResult `json:"hooks,omitempty"`
}

// newID is a run id: the time in the configured zone and random bits.
func (e *Engine) newID(prefix string) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return prefix + e.clock.Now().Format("20060102T150405") + "-" + hex.EncodeToString(b[:])
}

func (e *Engine) now() string { return e.clock.Format(e.clock.Now()) }

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
func (e *Engine) job(name string) (*config.Job, error) { return e.cfg.FindJob(name) }

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
