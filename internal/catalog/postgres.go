package catalog

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/klauspost/compress/zstd"
)

// PostgresConfig says where a PostgreSQL catalog is. Password is kept
// out of every DSN, log line and error (String shows none).
type PostgresConfig struct {
	Host     string
	Port     int
	Database string
	User     string
	Password string
	// SSLMode is libpq's sslmode (disable … verify-full).
	SSLMode string
}

// String names the catalog without its password: user@host:port/database.
func (c PostgresConfig) String() string {
	return fmt.Sprintf("postgres://%s@%s/%s", c.User, net.JoinHostPort(c.Host, strconv.Itoa(c.Port)), c.Database)
}

// poolConfig is the pool's config; the password is set on it, never
// written into the DSN that is parsed.
func (c PostgresConfig) poolConfig() (*pgxpool.Config, error) {
	u := url.URL{Scheme: "postgres", User: url.User(c.User), Host: net.JoinHostPort(c.Host, strconv.Itoa(c.Port)), Path: "/" + c.Database,
		RawQuery: url.Values{"sslmode": {c.SSLMode}, "application_name": {"steward"}, "connect_timeout": {"10"}}.Encode()}
	pc, err := pgxpool.ParseConfig(u.String())
	if err != nil {
		return nil, fmt.Errorf("catalog %s: %w", c, err)
	}
	pc.ConnConfig.Password = c.Password
	pc.MaxConns = 16
	return pc, nil
}

// Postgres is the Store on a PostgreSQL database, shared by redundant
// daemons (req 18). Its schema is pgMigrations; writes that must not
// interleave across processes (the audit append) take transaction-level
// advisory locks, and Lock hands out session-level ones.
type Postgres struct {
	pool *pgxpool.Pool
	name string // PostgresConfig.String: no password
}

// Advisory lock namespaces (the first key of PostgreSQL's two-key
// advisory locks; the second is hashtext of a name).
const (
	lockAudit      = 0x5374_0001 // the audit log's head
	lockMigrate    = 0x5374_0002 // applying migrations
	lockJob        = 0x5374_0003 // a scheduled job's run
	lockRepository = 0x5374_0004 // a repository (see repo.Opener.Lock)
)

// CreatePostgres connects to an empty database and creates the catalog's
// schema in it. A database that holds a catalog already is refused
// (ErrNotEmpty): init never adopts another history.
func CreatePostgres(ctx context.Context, c PostgresConfig) (*Postgres, error) {
	p, err := connectPostgres(ctx, c)
	if err != nil {
		return nil, err
	}
	var n int
	if err := p.pool.QueryRow(ctx, `SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = 'schema_migrations'`).Scan(&n); err != nil {
		p.Close()
		return nil, fmt.Errorf("create catalog %s: %w", p.name, err)
	}
	if n > 0 {
		p.Close()
		return nil, fmt.Errorf("create catalog %s: %w: it holds a Steward catalog already; use an empty database, or open this one", p.name, ErrNotEmpty)
	}
	if err := p.migrate(ctx); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

// OpenPostgres connects to a catalog database and applies any pending
// migrations. A database without Steward's schema is ErrNoCatalog.
func OpenPostgres(ctx context.Context, c PostgresConfig) (*Postgres, error) {
	p, err := connectPostgres(ctx, c)
	if err != nil {
		return nil, err
	}
	var n int
	if err := p.pool.QueryRow(ctx, `SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = 'schema_migrations'`).Scan(&n); err != nil {
		p.Close()
		return nil, fmt.Errorf("open catalog %s: %w", p.name, err)
	}
	if n == 0 {
		p.Close()
		return nil, fmt.Errorf("%w: database %s holds no Steward catalog: run `steward init` (or `steward catalog migrate --to postgres`) first", ErrNoCatalog, p.name)
	}
	if err := p.migrate(ctx); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

// OpenPostgresTarget connects to the database a catalog is to be copied
// into (CopyToPostgres) and creates the catalog's schema there if it has
// none; whether it is empty is CopyToPostgres's to check.
func OpenPostgresTarget(ctx context.Context, c PostgresConfig) (*Postgres, error) {
	p, err := connectPostgres(ctx, c)
	if err != nil {
		return nil, err
	}
	if err := p.migrate(ctx); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

func connectPostgres(ctx context.Context, c PostgresConfig) (*Postgres, error) {
	pc, err := c.poolConfig()
	if err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("catalog %s: %w", c, err)
	}
	p := &Postgres{pool: pool, name: c.String()}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("catalog %s: connect: %w", c, err)
	}
	return p, nil
}

// Name is the catalog's user@host:port/database (no password).
func (p *Postgres) Name() string { return p.name }

// migrate applies the pending migrations, one daemon at a time.
func (p *Postgres) migrate(ctx context.Context) error {
	err := pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, 0)`, lockMigrate); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied TIMESTAMPTZ NOT NULL DEFAULT now())`); err != nil {
			return err
		}
		var v int
		if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&v); err != nil {
			return err
		}
		if v > len(pgMigrations) {
			return ErrNewerSchema
		}
		for i := v; i < len(pgMigrations); i++ {
			if _, err := tx.Exec(ctx, pgMigrations[i]); err != nil {
				return fmt.Errorf("migration %d: %w", i+1, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version) VALUES ($1)`, i+1); err != nil {
				return fmt.Errorf("migration %d: %w", i+1, err)
			}
		}
		return nil
	})
	if errors.Is(err, ErrNewerSchema) {
		return err
	}
	if err != nil {
		return fmt.Errorf("catalog %s: %w", p.name, err)
	}
	return nil
}

// SchemaVersion is the newest migration applied.
func (p *Postgres) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	if err := p.pool.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, fmt.Errorf("catalog schema version: %w", err)
	}
	return v, nil
}

// Close closes the pool. Held Locks lose their connections.
func (p *Postgres) Close() error {
	p.pool.Close()
	return nil
}

// AppendAudit implements AuditStore. A transaction-level advisory lock
// orders appends from every process sharing the catalog: the newest
// record read is the newest there is until the transaction ends.
func (p *Postgres) AppendAudit(ctx context.Context, build func(last *AuditRecord) (AuditRecord, error), commit func(AuditRecord) error) (AuditRecord, error) {
	tx, err := p.pool.Begin(ctx)
	if err != nil {
		return AuditRecord{}, fmt.Errorf("audit append: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, 0)`, lockAudit); err != nil {
		return AuditRecord{}, fmt.Errorf("audit append: %w", err)
	}
	var last *AuditRecord
	r, err := scanAudit(tx.QueryRow(ctx, `SELECT seq, time, actor, action, target, result, details, prev_hash, hash FROM audit ORDER BY seq DESC LIMIT 1`))
	switch {
	case err == nil:
		last = &r
	case !errors.Is(err, pgx.ErrNoRows):
		return AuditRecord{}, fmt.Errorf("audit append: %w", err)
	}
	rec, err := build(last)
	if err != nil {
		return AuditRecord{}, err
	}
	details, err := json.Marshal(rec.Details)
	if err != nil {
		return AuditRecord{}, err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO audit (seq, time, actor, action, target, result, details, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		rec.Seq, rec.Time, rec.Actor, rec.Action, rec.Target, rec.Result, string(details), rec.PrevHash, rec.Hash); err != nil {
		return AuditRecord{}, fmt.Errorf("audit append: %w", err)
	}
	if commit != nil {
		if err := commit(rec); err != nil {
			return AuditRecord{}, err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return AuditRecord{}, fmt.Errorf("audit append: %w", err)
	}
	return rec, nil
}

// ScanAudit implements AuditStore.
func (p *Postgres) ScanAudit(ctx context.Context, fn func(AuditRecord) error) error {
	rows, err := p.pool.Query(ctx, `SELECT seq, time, actor, action, target, result, details, prev_hash, hash FROM audit ORDER BY seq`)
	if err != nil {
		return fmt.Errorf("read audit: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		r, err := scanAudit(rows)
		if err != nil {
			return err
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read audit: %w", err)
	}
	return nil
}

// LastAudit implements AuditStore.
func (p *Postgres) LastAudit(ctx context.Context) (AuditRecord, error) {
	r, err := scanAudit(p.pool.QueryRow(ctx, `SELECT seq, time, actor, action, target, result, details, prev_hash, hash FROM audit ORDER BY seq DESC LIMIT 1`))
	if errors.Is(err, pgx.ErrNoRows) {
		return r, ErrNotFound
	}
	if err != nil {
		return r, fmt.Errorf("read audit: %w", err)
	}
	return r, nil
}

// Get implements KV.
func (p *Postgres) Get(ctx context.Context, key string) (json.RawMessage, error) {
	var v string
	err := p.pool.QueryRow(ctx, `SELECT value FROM kv WHERE key = $1`, key).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("catalog get %q: %w", key, err)
	}
	return json.RawMessage(v), nil
}

// Put implements KV.
func (p *Postgres) Put(ctx context.Context, key string, value json.RawMessage) error {
	if _, err := p.pool.Exec(ctx, `INSERT INTO kv (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, string(value)); err != nil {
		return fmt.Errorf("catalog put %q: %w", key, err)
	}
	return nil
}

// ---- runs, snapshots, drills, erase plans ----

// PutRun implements RunStore.
func (p *Postgres) PutRun(ctx context.Context, r RunRow) error {
	_, err := p.pool.Exec(ctx, `INSERT INTO runs (id, job, source, repository, snapshot_id, started, finished, result, record)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
		ON CONFLICT (id) DO UPDATE SET snapshot_id = excluded.snapshot_id, finished = excluded.finished, result = excluded.result, record = excluded.record`,
		r.ID, r.Job, r.Source, r.Repository, r.SnapshotID, r.Started, r.Finished, r.Result, string(r.Record))
	if err != nil {
		return fmt.Errorf("catalog: save run: %w", err)
	}
	return nil
}

// Run implements RunStore.
func (p *Postgres) Run(ctx context.Context, id string) (RunRow, error) {
	rows, err := p.queryRuns(ctx, `WHERE id = $1`, id)
	if err != nil {
		return RunRow{}, err
	}
	if len(rows) == 0 {
		return RunRow{}, ErrNotFound
	}
	return rows[0], nil
}

// RunsWithResult implements RunStore.
func (p *Postgres) RunsWithResult(ctx context.Context, repository, result string) ([]RunRow, error) {
	return p.queryRuns(ctx, `WHERE repository = $1 AND result = $2 ORDER BY started`, repository, result)
}

// JobRuns implements RunStore.
func (p *Postgres) JobRuns(ctx context.Context, job string, limit int) ([]RunRow, error) {
	return p.queryRuns(ctx, `WHERE job = $1 ORDER BY started DESC LIMIT $2`, job, pgLimit(limit))
}

// RunsStartedBetween implements RunStore: the instants are compared in
// Go, as SQLite's are, so that any stored offset counts.
func (p *Postgres) RunsStartedBetween(ctx context.Context, from, to time.Time) ([]RunRow, error) {
	all, err := p.queryRuns(ctx, `ORDER BY started`)
	if err != nil {
		return nil, err
	}
	return runsBetween(all, from, to)
}

// pgLimit is LIMIT's argument for "at most limit, all when limit <= 0"
// (LIMIT NULL is no limit).
func pgLimit(limit int) *int {
	if limit <= 0 {
		return nil
	}
	return &limit
}

func (p *Postgres) queryRuns(ctx context.Context, where string, args ...any) ([]RunRow, error) {
	return pgRows(ctx, p.pool, "runs", `SELECT id, job, source, repository, snapshot_id, started, finished, result, record FROM runs `+where, args,
		func(row pgx.CollectableRow) (RunRow, error) {
			var r RunRow
			err := row.Scan(&r.ID, &r.Job, &r.Source, &r.Repository, &r.SnapshotID, &r.Started, &r.Finished, &r.Result, (*jsonText)(&r.Record))
			return r, err
		})
}

// PutSnapshot implements SnapshotStore.
func (p *Postgres) PutSnapshot(ctx context.Context, r SnapshotRow) error {
	_, err := p.pool.Exec(ctx, `INSERT INTO snapshots (repository, snapshot_id, job, source, time, record) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (repository, snapshot_id) DO UPDATE SET record = excluded.record`,
		r.Repository, r.SnapshotID, r.Job, r.Source, r.Time, string(r.Record))
	if err != nil {
		return fmt.Errorf("catalog: save snapshot: %w", err)
	}
	return nil
}

// Snapshot implements SnapshotStore.
func (p *Postgres) Snapshot(ctx context.Context, repository, snapshotID string) (SnapshotRow, error) {
	rows, err := p.querySnapshots(ctx, `WHERE repository = $1 AND snapshot_id = $2`, repository, snapshotID)
	if err != nil {
		return SnapshotRow{}, err
	}
	if len(rows) == 0 {
		return SnapshotRow{}, ErrNotFound
	}
	return rows[0], nil
}

// DeleteSnapshot implements SnapshotStore.
func (p *Postgres) DeleteSnapshot(ctx context.Context, repository, snapshotID string) error {
	return p.inTx(ctx, "delete snapshot", func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM snapshots WHERE repository = $1 AND snapshot_id = $2`, repository, snapshotID); err != nil {
			return err
		}
		return pgDeleteManifest(ctx, tx, snapshotID)
	})
}

// JobSnapshots implements SnapshotStore.
func (p *Postgres) JobSnapshots(ctx context.Context, job string) ([]SnapshotRow, error) {
	return p.querySnapshots(ctx, `WHERE job = $1 ORDER BY time DESC`, job)
}

func (p *Postgres) querySnapshots(ctx context.Context, where string, args ...any) ([]SnapshotRow, error) {
	return pgRows(ctx, p.pool, "snapshots", `SELECT repository, snapshot_id, job, source, time, record FROM snapshots `+where, args,
		func(row pgx.CollectableRow) (SnapshotRow, error) {
			var r SnapshotRow
			err := row.Scan(&r.Repository, &r.SnapshotID, &r.Job, &r.Source, &r.Time, (*jsonText)(&r.Record))
			return r, err
		})
}

// PutDrill implements DrillStore.
func (p *Postgres) PutDrill(ctx context.Context, r DrillRow) error {
	_, err := p.pool.Exec(ctx, `INSERT INTO drills (id, job, started, finished, result, record) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (id) DO UPDATE SET finished = excluded.finished, result = excluded.result, record = excluded.record`,
		r.ID, r.Job, r.Started, r.Finished, r.Result, string(r.Record))
	if err != nil {
		return fmt.Errorf("catalog: save drill: %w", err)
	}
	return nil
}

// Drill implements DrillStore.
func (p *Postgres) Drill(ctx context.Context, id string) (DrillRow, error) {
	rows, err := p.queryDrills(ctx, `WHERE id = $1`, id)
	if err != nil {
		return DrillRow{}, err
	}
	if len(rows) == 0 {
		return DrillRow{}, ErrNotFound
	}
	return rows[0], nil
}

// Drills implements DrillStore.
func (p *Postgres) Drills(ctx context.Context, limit int) ([]DrillRow, error) {
	return p.queryDrills(ctx, `ORDER BY started DESC, id DESC LIMIT $1`, pgLimit(limit))
}

// DrillsWithResult implements DrillStore.
func (p *Postgres) DrillsWithResult(ctx context.Context, result string) ([]DrillRow, error) {
	return p.queryDrills(ctx, `WHERE result = $1 ORDER BY started`, result)
}

func (p *Postgres) queryDrills(ctx context.Context, where string, args ...any) ([]DrillRow, error) {
	return pgRows(ctx, p.pool, "drills", `SELECT id, job, started, finished, result, record FROM drills `+where, args,
		func(row pgx.CollectableRow) (DrillRow, error) {
			var r DrillRow
			err := row.Scan(&r.ID, &r.Job, &r.Started, &r.Finished, &r.Result, (*jsonText)(&r.Record))
			return r, err
		})
}

// PutErasePlan implements EraseStore.
func (p *Postgres) PutErasePlan(ctx context.Context, e ErasePlanRow) error {
	_, err := p.pool.Exec(ctx, `INSERT INTO erase_plans (id, created, status, record) VALUES ($1, $2, $3, $4)
		ON CONFLICT (id) DO UPDATE SET status = excluded.status, record = excluded.record`,
		e.ID, e.Created, e.Status, string(e.Record))
	if err != nil {
		return fmt.Errorf("catalog: save erase plan: %w", err)
	}
	return nil
}

// ErasePlan implements EraseStore.
func (p *Postgres) ErasePlan(ctx context.Context, id string) (ErasePlanRow, error) {
	rows, err := p.queryPlans(ctx, `WHERE id = $1`, id)
	if err != nil {
		return ErasePlanRow{}, err
	}
	if len(rows) == 0 {
		return ErasePlanRow{}, ErrNotFound
	}
	return rows[0], nil
}

// ErasePlans implements EraseStore.
func (p *Postgres) ErasePlans(ctx context.Context) ([]ErasePlanRow, error) {
	return p.queryPlans(ctx, `ORDER BY created DESC, id DESC`)
}

func (p *Postgres) queryPlans(ctx context.Context, where string, args ...any) ([]ErasePlanRow, error) {
	return pgRows(ctx, p.pool, "erase plans", `SELECT id, created, status, record FROM erase_plans `+where, args,
		func(row pgx.CollectableRow) (ErasePlanRow, error) {
			var e ErasePlanRow
			err := row.Scan(&e.ID, &e.Created, &e.Status, (*jsonText)(&e.Record))
			return e, err
		})
}

// PutJournal implements EraseStore.
func (p *Postgres) PutJournal(ctx context.Context, j JournalRow) error {
	ev := string(j.Evidence)
	if ev == "" {
		ev = "{}"
	}
	_, err := p.pool.Exec(ctx, `INSERT INTO erase_journal (plan_id, step, name, started, finished, result, evidence) VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (plan_id, step) DO UPDATE SET name = excluded.name, started = excluded.started, finished = excluded.finished,
		result = excluded.result, evidence = excluded.evidence`,
		j.PlanID, j.Step, j.Name, j.Started, j.Finished, j.Result, ev)
	if err != nil {
		return fmt.Errorf("catalog: save erase journal: %w", err)
	}
	return nil
}

// Journal implements EraseStore.
func (p *Postgres) Journal(ctx context.Context, planID string) ([]JournalRow, error) {
	return pgRows(ctx, p.pool, "erase journal", `SELECT plan_id, step, name, started, finished, result, evidence FROM erase_journal WHERE plan_id = $1 ORDER BY step`, []any{planID},
		func(row pgx.CollectableRow) (JournalRow, error) {
			var j JournalRow
			err := row.Scan(&j.PlanID, &j.Step, &j.Name, &j.Started, &j.Finished, &j.Result, (*jsonText)(&j.Evidence))
			return j, err
		})
}

// ClaimRun implements ScheduleStore: the primary key (job, due) lets one
// of two concurrent claims in.
func (p *Postgres) ClaimRun(ctx context.Context, c ClaimRow) (bool, error) {
	tag, err := p.pool.Exec(ctx, `INSERT INTO schedule_claims (job, due, daemon, claimed) VALUES ($1, $2, $3, $4) ON CONFLICT (job, due) DO NOTHING`,
		c.Job, c.Due, c.Daemon, c.Claimed)
	if err != nil {
		return false, fmt.Errorf("catalog: claim run of %s due %s: %w", c.Job, c.Due, err)
	}
	return tag.RowsAffected() == 1, nil
}

// Claims implements ScheduleStore.
func (p *Postgres) Claims(ctx context.Context, job string, limit int) ([]ClaimRow, error) {
	return pgRows(ctx, p.pool, "claims", `SELECT job, due, daemon, claimed FROM schedule_claims WHERE job = $1 ORDER BY due DESC LIMIT $2`, []any{job, pgLimit(limit)},
		func(row pgx.CollectableRow) (ClaimRow, error) {
			var c ClaimRow
			err := row.Scan(&c.Job, &c.Due, &c.Daemon, &c.Claimed)
			return c, err
		})
}

// PutOperator implements OperatorStore.
func (p *Postgres) PutOperator(ctx context.Context, o OperatorRow) error {
	if err := pgPutOperator(ctx, p.pool, o); err != nil {
		return fmt.Errorf("catalog: save operator %q: %w", o.Name, err)
	}
	return nil
}

type pgExecer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

func pgPutOperator(ctx context.Context, db pgExecer, o OperatorRow) error {
	_, err := db.Exec(ctx, `INSERT INTO operators (`+operatorColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
		ON CONFLICT (name) DO UPDATE SET role = excluded.role, hash = excluded.hash, disabled = excluded.disabled,
		failures = excluded.failures, locked_until = excluded.locked_until, created = excluded.created,
		updated = excluded.updated, password_changed = excluded.password_changed`,
		o.Name, o.Role, o.Hash, o.Disabled, o.Failures, o.LockedUntil, o.Created, o.Updated, o.PasswordChanged)
	return err
}

// Operator implements OperatorStore.
func (p *Postgres) Operator(ctx context.Context, name string) (OperatorRow, error) {
	o, err := scanOperator(p.pool.QueryRow(ctx, `SELECT `+operatorColumns+` FROM operators WHERE name = $1`, name))
	if errors.Is(err, pgx.ErrNoRows) {
		return OperatorRow{}, ErrNotFound
	}
	if err != nil {
		return OperatorRow{}, fmt.Errorf("catalog: read operator %q: %w", name, err)
	}
	return o, nil
}

// Operators implements OperatorStore.
func (p *Postgres) Operators(ctx context.Context) ([]OperatorRow, error) {
	return pgRows(ctx, p.pool, "operators", `SELECT `+operatorColumns+` FROM operators ORDER BY name`, nil,
		func(row pgx.CollectableRow) (OperatorRow, error) { return scanOperator(row) })
}

// UpdateOperator implements OperatorStore: the row is read FOR UPDATE, so
// a concurrent update (another daemon's failed login) waits for this one.
func (p *Postgres) UpdateOperator(ctx context.Context, name string, fn func(*OperatorRow) error) (OperatorRow, error) {
	tx, err := p.pool.Begin(ctx)
	if err != nil {
		return OperatorRow{}, fmt.Errorf("catalog: update operator %q: %w", name, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	o, err := scanOperator(tx.QueryRow(ctx, `SELECT `+operatorColumns+` FROM operators WHERE name = $1 FOR UPDATE`, name))
	if errors.Is(err, pgx.ErrNoRows) {
		return OperatorRow{}, ErrNotFound
	}
	if err != nil {
		return OperatorRow{}, fmt.Errorf("catalog: update operator %q: %w", name, err)
	}
	if err := fn(&o); err != nil {
		return OperatorRow{}, err
	}
	if o.Name != name {
		return OperatorRow{}, fmt.Errorf("catalog: update operator %q: the update renamed it to %q", name, o.Name)
	}
	if err := pgPutOperator(ctx, tx, o); err != nil {
		return OperatorRow{}, fmt.Errorf("catalog: update operator %q: %w", name, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return OperatorRow{}, fmt.Errorf("catalog: update operator %q: %w", name, err)
	}
	return o, nil
}

// inTx runs fn in a transaction; what names the operation in errors.
func (p *Postgres) inTx(ctx context.Context, what string, fn func(pgx.Tx) error) error {
	if err := pgx.BeginFunc(ctx, p.pool, fn); err != nil {
		return fmt.Errorf("catalog: %s: %w", what, err)
	}
	return nil
}

// ---- manifests ----

// PutManifest implements ManifestStore. Two processes storing the same
// new body at once: the second waits on the body's primary key until the
// first commits, then finds it stored and does not read its own.
func (p *Postgres) PutManifest(ctx context.Context, m ManifestRow, body io.Reader) error {
	return p.inTx(ctx, "save manifest", func(tx pgx.Tx) error {
		var have int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM manifest_bodies WHERE sha256 = $1`, m.SHA256).Scan(&have); err != nil {
			return err
		}
		if have == 0 {
			if body == nil {
				return fmt.Errorf("manifest of snapshot %s: body %s is not stored and none was given", m.SnapshotID, m.SHA256)
			}
			if err := pgPutBody(ctx, tx, m.SHA256, body); err != nil {
				return err
			}
		}
		var old string
		err := tx.QueryRow(ctx, `SELECT sha256 FROM manifests WHERE snapshot_id = $1`, m.SnapshotID).Scan(&old)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO manifests (snapshot_id, source, kind, sha256) VALUES ($1, $2, $3, $4)
			ON CONFLICT (snapshot_id) DO UPDATE SET sha256 = excluded.sha256`, m.SnapshotID, m.Source, m.Kind, m.SHA256); err != nil {
			return err
		}
		if old != "" && old != m.SHA256 {
			return pgDropUnnamedBody(ctx, tx, old)
		}
		return nil
	})
}

// pgPutBody streams body into manifest_chunks through zstd (as SQLite's
// putBody does) and checks its SHA-256 against sum.
func pgPutBody(ctx context.Context, tx pgx.Tx, sum string, body io.Reader) error {
	tag, err := tx.Exec(ctx, `INSERT INTO manifest_bodies (sha256, codec, size) VALUES ($1, $2, 0) ON CONFLICT (sha256) DO NOTHING`, sum, codecZstd)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return nil // another process stored it since the check
	}
	seq := 0
	cw := &chunker{buf: make([]byte, 0, chunkSize), flushFn: func(b []byte) error {
		_, err := tx.Exec(ctx, `INSERT INTO manifest_chunks (sha256, seq, data) VALUES ($1, $2, $3)`, sum, seq, b)
		seq++
		return err
	}}
	enc, err := zstd.NewWriter(cw, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(zstdWindow))
	if err != nil {
		return err
	}
	h := sha256.New()
	n, err := io.Copy(enc, io.TeeReader(body, h))
	if cerr := enc.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = cw.flush()
	}
	if err != nil {
		return fmt.Errorf("manifest body: %w", err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != sum {
		return fmt.Errorf("%w (read %s, expected %s)", ErrManifestSHA256, got, sum)
	}
	_, err = tx.Exec(ctx, `UPDATE manifest_bodies SET size = $1 WHERE sha256 = $2`, n, sum)
	return err
}

// chunker cuts what is written into chunks of chunkSize bytes.
type chunker struct {
	buf     []byte
	flushFn func([]byte) error
}

func (w *chunker) Write(b []byte) (int, error) {
	n := len(b)
	for len(b) > 0 {
		k := min(len(b), chunkSize-len(w.buf))
		w.buf = append(w.buf, b[:k]...)
		b = b[k:]
		if len(w.buf) == chunkSize {
			if err := w.flush(); err != nil {
				return 0, err
			}
		}
	}
	return n, nil
}

func (w *chunker) flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	if err := w.flushFn(slices.Clone(w.buf)); err != nil {
		return err
	}
	w.buf = w.buf[:0]
	return nil
}

// ManifestBody implements ManifestStore.
func (p *Postgres) ManifestBody(ctx context.Context, sum string) (io.ReadCloser, error) {
	var codec string
	var size int64
	err := p.pool.QueryRow(ctx, `SELECT codec, size FROM manifest_bodies WHERE sha256 = $1`, sum).Scan(&codec, &size)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("catalog: read manifest: %w", err)
	}
	return openBody(sum, codec, size, func(seq int) ([]byte, error) {
		var data []byte
		err := p.pool.QueryRow(ctx, `SELECT data FROM manifest_chunks WHERE sha256 = $1 AND seq = $2`, sum, seq).Scan(&data)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, io.EOF
		}
		return data, err
	})
}

// DeleteManifest implements ManifestStore.
func (p *Postgres) DeleteManifest(ctx context.Context, snapshotID string) error {
	return p.inTx(ctx, "delete manifest", func(tx pgx.Tx) error { return pgDeleteManifest(ctx, tx, snapshotID) })
}

func pgDeleteManifest(ctx context.Context, tx pgx.Tx, snapshotID string) error {
	var sum string
	err := tx.QueryRow(ctx, `DELETE FROM manifests WHERE snapshot_id = $1 RETURNING sha256`, snapshotID).Scan(&sum)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	return pgDropUnnamedBody(ctx, tx, sum)
}

// pgDropUnnamedBody deletes body sum (its chunks cascade) if no manifest
// names it.
func pgDropUnnamedBody(ctx context.Context, tx pgx.Tx, sum string) error {
	_, err := tx.Exec(ctx, `DELETE FROM manifest_bodies WHERE sha256 = $1 AND NOT EXISTS (SELECT 1 FROM manifests WHERE sha256 = $1)`, sum)
	return err
}

// Manifest implements ManifestStore.
func (p *Postgres) Manifest(ctx context.Context, snapshotID string) (ManifestRow, error) {
	return p.manifest(ctx, `SELECT snapshot_id, source, kind, sha256 FROM manifests WHERE snapshot_id = $1`, snapshotID)
}

// LatestManifest implements ManifestStore.
func (p *Postgres) LatestManifest(ctx context.Context, repository, source string) (ManifestRow, error) {
	return p.manifest(ctx, `SELECT m.snapshot_id, m.source, m.kind, m.sha256 FROM manifests m
		JOIN snapshots s ON s.snapshot_id = m.snapshot_id
		WHERE s.repository = $1 AND m.source = $2 ORDER BY s.time DESC LIMIT 1`, repository, source)
}

func (p *Postgres) manifest(ctx context.Context, q string, args ...any) (ManifestRow, error) {
	var m ManifestRow
	err := p.pool.QueryRow(ctx, q, args...).Scan(&m.SnapshotID, &m.Source, &m.Kind, &m.SHA256)
	if errors.Is(err, pgx.ErrNoRows) {
		return m, ErrNotFound
	}
	if err != nil {
		return m, fmt.Errorf("catalog: read manifest: %w", err)
	}
	return m, nil
}

// CountManifests implements ManifestStore.
func (p *Postgres) CountManifests(ctx context.Context) (int64, error) {
	var n int64
	if err := p.pool.QueryRow(ctx, `SELECT count(*) FROM manifests`).Scan(&n); err != nil {
		return 0, fmt.Errorf("catalog: count manifests: %w", err)
	}
	return n, nil
}

// PurgeManifests implements ManifestStore.
func (p *Postgres) PurgeManifests(ctx context.Context) (int64, error) {
	var n int64
	err := p.inTx(ctx, "purge manifests", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM manifests`)
		if err != nil {
			return err
		}
		n = tag.RowsAffected()
		_, err = tx.Exec(ctx, `DELETE FROM manifest_bodies`)
		return err
	})
	return n, err
}

var _ Store = (*Postgres)(nil)

// pgRows runs query and scans every row with scan; what names the rows in
// errors ("catalog: read what: …").
func pgRows[T any](ctx context.Context, pool *pgxpool.Pool, what, query string, args []any, scan func(pgx.CollectableRow) (T, error)) ([]T, error) {
	rows, err := pool.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("catalog: read %s: %w", what, err)
	}
	out, err := pgx.CollectRows(rows, scan)
	if err != nil {
		return nil, fmt.Errorf("catalog: read %s: %w", what, err)
	}
	return out, nil
}

// jsonText scans a text column into a json.RawMessage.
type jsonText json.RawMessage

func (j *jsonText) Scan(src any) error {
	switch v := src.(type) {
	case string:
		*j = jsonText(v)
	case []byte:
		*j = append(jsonText(nil), v...)
	case nil:
		*j = nil
	default:
		return fmt.Errorf("catalog: a JSON column holds %T", src)
	}
	return nil
}
