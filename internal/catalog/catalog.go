package catalog

import (
	"context"
	"encoding/json"
	"io"
	"time"
)

// AuditRecord is one audit-log record as stored. The audit package
// computes its hashes; the catalog only keeps them in order.
type AuditRecord struct {
	Seq      int64             `json:"seq"`
	Time     string            `json:"time"`
	Actor    string            `json:"actor"`
	Action   string            `json:"action"`
	Target   string            `json:"target"`
	Result   string            `json:"result"`
	Details  map[string]string `json:"details,omitempty"`
	PrevHash string            `json:"prev_hash"`
	Hash     string            `json:"hash"`
}

// AuditStore keeps audit records in sequence. Seq is a record's key: it
// orders the log, and the newest record is the one with the highest Seq.
type AuditStore interface {
	// AppendAudit calls build with the newest record (nil for an empty log)
	// inside one write transaction, stores the record build returns, then
	// calls commit (e.g. to mirror it; nil for none) before the
	// transaction commits. No other writer can append between the read and
	// the write. commit is called only once the record is stored, and not
	// at all if build fails or storing fails (e.g. a record with the same
	// Seq already exists). If build, storing or commit fails, nothing is
	// stored and the error is returned (build's and commit's errors as
	// they are or wrapped, so errors.Is holds). On success it returns the
	// stored record. Details round-trip, except that an empty map may read
	// back as nil.
	AppendAudit(ctx context.Context, build func(last *AuditRecord) (AuditRecord, error), commit func(AuditRecord) error) (AuditRecord, error)
	// ScanAudit calls fn for every record in ascending Seq order (not
	// insertion order). It stops at the first error fn returns and returns
	// that error.
	ScanAudit(ctx context.Context, fn func(AuditRecord) error) error
	// LastAudit returns the record with the highest Seq, or ErrNotFound for
	// an empty log.
	LastAudit(ctx context.Context) (AuditRecord, error)
}

// KV is a small key/value area for counters and markers (e.g. the next
// read-data subset of a repository's drills).
type KV interface {
	// Get returns the value last Put under key, verbatim, or ErrNotFound.
	Get(ctx context.Context, key string) (json.RawMessage, error)
	// Put stores value under key, replacing any earlier value.
	Put(ctx context.Context, key string, value json.RawMessage) error
}

// RunStore keeps backup runs (RunRow), keyed by ID.
type RunStore interface {
	// PutRun upserts a run by ID. A later Put updates SnapshotID, Finished,
	// Result and Record; Job, Source, Repository and Started keep the
	// values of the first Put. Started must be RFC 3339 (see
	// RunsStartedBetween).
	PutRun(ctx context.Context, r RunRow) error
	// Run returns the run with this ID, or ErrNotFound.
	Run(ctx context.Context, id string) (RunRow, error)
	// RunsWithResult returns the runs into repository whose Result is
	// result ("" for runs still marked as running), oldest first by
	// Started.
	RunsWithResult(ctx context.Context, repository, result string) ([]RunRow, error)
	// JobRuns returns job's runs newest first by Started, at most limit of
	// them (all of them when limit <= 0).
	JobRuns(ctx context.Context, job string, limit int) ([]RunRow, error)
	// RunsStartedBetween returns the runs whose Started, parsed as an
	// RFC 3339 instant, lies in [from, to): from inclusive, to exclusive,
	// whatever the offsets of the stored text and of from and to. The zero
	// from selects every run before to. Runs come oldest first by instant.
	// A stored Started that is not RFC 3339 is an error.
	RunsStartedBetween(ctx context.Context, from, to time.Time) ([]RunRow, error)
}

// SnapshotStore keeps the snapshots Steward made, keyed by (Repository,
// SnapshotID).
type SnapshotStore interface {
	// PutSnapshot upserts a snapshot by (Repository, SnapshotID). A later
	// Put updates Record only; Job, Source and Time keep the values of the
	// first Put.
	PutSnapshot(ctx context.Context, r SnapshotRow) error
	// Snapshot returns the snapshot snapshotID of repository, or
	// ErrNotFound (also when the ID exists only in another repository).
	Snapshot(ctx context.Context, repository, snapshotID string) (SnapshotRow, error)
	// DeleteSnapshot removes the snapshot row of repository and the
	// manifest stored under snapshotID (after retention forgot the
	// snapshot). Deleting a row that does not exist is not an error.
	DeleteSnapshot(ctx context.Context, repository, snapshotID string) error
	// JobSnapshots returns job's snapshots in every repository, newest
	// first by Time.
	JobSnapshots(ctx context.Context, job string) ([]SnapshotRow, error)
}

// ManifestStore keeps snapshot manifests: rows keyed by SnapshotID alone
// (snapshot IDs are unique across repositories), each naming a body by
// its SHA-256. A body is stored once however many snapshots name it (an
// unchanged source's runs all do), and is streamed in and out: a
// manifest of a million files is never held whole in memory.
type ManifestStore interface {
	// PutManifest upserts m by SnapshotID (a later Put updates SHA256;
	// Source and Kind keep the values of the first Put). If no body
	// m.SHA256 is stored, body is read to its end and stored byte for
	// byte; it must hash to m.SHA256, else the error wraps
	// ErrManifestSHA256 and nothing is stored. If the body is stored
	// already, body is not read and may be nil. A body no manifest names
	// any more is deleted.
	PutManifest(ctx context.Context, m ManifestRow, body io.Reader) error
	// Manifest returns the manifest row of snapshotID, or ErrNotFound.
	Manifest(ctx context.Context, snapshotID string) (ManifestRow, error)
	// ManifestBody streams the body stored under sha256, or returns
	// ErrNotFound. A body that does not hash to sha256 (damage) ends in
	// an error wrapping ErrManifestSHA256 instead of io.EOF.
	ManifestBody(ctx context.Context, sha256 string) (io.ReadCloser, error)
	// LatestManifest returns, among repository's snapshot rows
	// (SnapshotStore) that have a manifest of source, the manifest of the
	// one with the newest Time; ErrNotFound when there is none. Snapshots
	// without a manifest are passed over, and a manifest whose snapshot
	// has no row in repository is never returned.
	LatestManifest(ctx context.Context, repository, source string) (ManifestRow, error)
	// DeleteManifest removes the manifest of snapshotID and leaves any
	// snapshot row alone (and its body, if no other manifest names it).
	// Deleting a manifest that does not exist is not an error.
	DeleteManifest(ctx context.Context, snapshotID string) error
	// CountManifests counts the manifests (rows, not bodies).
	CountManifests(ctx context.Context) (int64, error)
	// PurgeManifests deletes every manifest and body (contract-end
	// erasure) and returns how many manifests there were.
	PurgeManifests(ctx context.Context) (int64, error)
}

// DrillStore keeps restore drills (DrillRow), keyed by ID.
type DrillStore interface {
	// PutDrill upserts a drill by ID. A later Put updates Finished, Result
	// and Record; Job and Started keep the values of the first Put.
	PutDrill(ctx context.Context, r DrillRow) error
	// Drill returns the drill with this ID, or ErrNotFound.
	Drill(ctx context.Context, id string) (DrillRow, error)
	// Drills returns drills newest first by Started, ties by descending ID,
	// at most limit of them (all of them when limit <= 0).
	Drills(ctx context.Context, limit int) ([]DrillRow, error)
	// DrillsWithResult returns the drills whose Result is result ("" for
	// drills still marked as running), oldest first by Started.
	DrillsWithResult(ctx context.Context, result string) ([]DrillRow, error)
}

// EraseStore keeps contract-end erase plans (ErasePlanRow, by ID) and
// their execution journals (JournalRow, by PlanID and Step).
type EraseStore interface {
	// PutErasePlan upserts a plan by ID; a later Put updates Status and
	// Record, Created keeps the first Put's.
	PutErasePlan(ctx context.Context, p ErasePlanRow) error
	// ErasePlan returns the plan with this ID, or ErrNotFound.
	ErasePlan(ctx context.Context, id string) (ErasePlanRow, error)
	// ErasePlans returns every plan, newest first by Created, ties by
	// descending ID.
	ErasePlans(ctx context.Context) ([]ErasePlanRow, error)
	// PutJournal upserts one step of a plan's journal by (PlanID, Step).
	PutJournal(ctx context.Context, j JournalRow) error
	// Journal returns a plan's journal in step order (empty for an
	// unknown plan).
	Journal(ctx context.Context, planID string) ([]JournalRow, error)
}

// OperatorStore keeps operator accounts (OperatorRow), keyed by Name.
// The auth package owns their meaning (roles, hashes, lockout); the store
// only keeps rows and makes read-modify-write atomic.
type OperatorStore interface {
	// PutOperator upserts an operator by Name: every field of a later Put
	// replaces the stored one, Created included.
	PutOperator(ctx context.Context, o OperatorRow) error
	// Operator returns the operator with this name, or ErrNotFound.
	Operator(ctx context.Context, name string) (OperatorRow, error)
	// Operators returns every operator, ordered by Name.
	Operators(ctx context.Context) ([]OperatorRow, error)
	// UpdateOperator reads the operator name, calls fn with it and stores
	// what fn left in the row, in one write transaction: no other writer
	// can change the row between the read and the write, so two
	// concurrent failed logins both count. fn must not change Name. An
	// unknown name is ErrNotFound (fn is not called). If fn fails,
	// nothing is stored and its error is returned as it is. On success it
	// returns the stored row.
	UpdateOperator(ctx context.Context, name string, fn func(*OperatorRow) error) (OperatorRow, error)
}

// ClaimRow is one claimed scheduled run (ScheduleStore).
type ClaimRow struct {
	Job string
	// Due names the scheduled run (the scheduler's text for the instant it
	// was due, e.g. "2026-03-01T02:00:00.000+09:00").
	Due string
	// Daemon names the daemon that claimed it (host and process).
	Daemon string
	// Claimed is when it was claimed (RFC 3339).
	Claimed string
}

// ScheduleStore records which daemon makes each scheduled run, so that
// daemons sharing one catalog (req 18) make every scheduled run once.
type ScheduleStore interface {
	// ClaimRun stores c and returns true, unless a claim of the same
	// (Job, Due) is stored already (by any daemon): then it changes
	// nothing and returns false. Two concurrent claims of one run never
	// both return true.
	ClaimRun(ctx context.Context, c ClaimRow) (bool, error)
	// Claims returns job's claims newest first by Due, at most limit of
	// them (all of them when limit <= 0).
	Claims(ctx context.Context, job string, limit int) ([]ClaimRow, error)
}

// Store is everything Steward keeps: the full contract of a catalog
// implementation. storetest.Run is its conformance suite; every
// implementation must pass it.
type Store interface {
	AuditStore
	KV
	RunStore
	SnapshotStore
	ManifestStore
	DrillStore
	EraseStore
	OperatorStore
	ScheduleStore
	// SchemaVersion is the newest migration applied (at least 1 once Create
	// or Open returned).
	SchemaVersion(ctx context.Context) (int, error)
	// Close releases the store. Other methods fail after Close.
	Close() error
}
