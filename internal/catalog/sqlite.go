package catalog

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"steward/internal/state"

	_ "modernc.org/sqlite" // the pure-Go SQLite driver
)

// SQLite is the default Store: one file in the state dir, WAL mode.
type SQLite struct {
	db   *sql.DB
	path string
	// readOnly says why this store can only read (nil: it can write); see
	// openReadOnly.
	readOnly error
}

// Path is where the catalog lives in a state dir.
func Path(stateDir string) string { return state.Dir(stateDir).Catalog() }

// Create makes a new catalog file and migrates it. If that fails, the new
// file is removed again.
func Create(ctx context.Context, path string) (*SQLite, error) {
	return open(ctx, path, true)
}

// Open opens an existing catalog and applies any pending migrations. An
// empty file, or one without Steward's schema, is ErrDamaged: opening it
// must not quietly start a new, empty history in its place.
//
// Opening a catalog whose schema is current writes nothing. When nothing
// can be written beside the catalog (its disk is full, or its directory
// or file system is read-only), Open still returns a store that reads,
// and whose writes fail with ErrDiskFull or ErrReadOnly; ReadOnly says
// which.
func Open(ctx context.Context, path string) (*SQLite, error) {
	st, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrNoCatalog
	}
	if err != nil {
		return nil, fmt.Errorf("open catalog: %w", err)
	}
	if st.Size() == 0 {
		return nil, fmt.Errorf("%w: %s is empty (0 bytes), so its history (runs, drills, the audit log) is gone: restore catalog.db from a backup of the state dir; nothing was changed", ErrDamaged, path)
	}
	return open(ctx, path, false)
}

func open(ctx context.Context, path string, create bool) (*SQLite, error) {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)") // Create sets it; an existing catalog is WAL already, so no write
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Set("_txlock", "immediate")
	if !create {
		// Never create a file by accident when opening.
		q.Set("mode", "rw")
	}
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open catalog: %w", err)
	}
	s := &SQLite{db: db, path: path}
	if create {
		// Restrict the file before SQLite writes anything to it.
		f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			db.Close()
			return nil, fmt.Errorf("create catalog: %w", err)
		}
		f.Close()
		if err := s.createSchema(ctx); err != nil {
			db.Close()
			for _, p := range []string{path, path + "-wal", path + "-shm"} {
				os.Remove(p)
			}
			return nil, err
		}
		return s, nil
	}
	v, err := s.version(ctx)
	switch {
	case err != nil && cannotWrite(path, err):
		db.Close()
		return openReadOnly(ctx, path, err)
	case err != nil:
		err = damaged(path, err)
	default:
		err = s.migrate(ctx, v)
	}
	if err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

func (s *SQLite) createSchema(ctx context.Context) error {
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied TEXT NOT NULL DEFAULT (datetime('now')))`); err != nil {
		return fmt.Errorf("create catalog: %w", s.writeErr(err))
	}
	return s.migrate(ctx, 0)
}

// version reads the newest migration applied, and only reads. A file
// without Steward's schema is ErrDamaged; an error from SQLite itself is
// returned as it is, for the caller to classify.
func (s *SQLite) version(ctx context.Context) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'`).Scan(&n)
	if err != nil {
		return 0, err
	}
	if n == 0 {
		return 0, fmt.Errorf("%w: %s holds no Steward catalog: restore catalog.db from a backup of the state dir; nothing was changed", ErrDamaged, s.path)
	}
	var v sql.NullInt64
	if err := s.db.QueryRowContext(ctx, `SELECT max(version) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, err
	}
	return int(v.Int64), nil
}

// damaged is the error for a catalog that SQLite cannot read at all.
func damaged(path string, err error) error {
	if errors.Is(err, ErrDamaged) {
		return err
	}
	return fmt.Errorf("%w: %s cannot be read (%v): restore catalog.db from a backup of the state dir; nothing was changed", ErrDamaged, path, err)
}

// openReadOnly opens the catalog at path for reading only, after a normal
// open failed with cause because nothing can be written beside it: in WAL
// mode SQLite creates and sizes the -wal and -shm files even to read,
// which a full disk or a read-only directory refuses. The file is opened
// immutable instead (no locks, no -wal or -shm). That reads every
// committed change only when the -wal file is absent or empty, so with a
// -wal that holds changes the catalog cannot be opened until space (or
// write access) is back. An empty -wal also means that no other process
// has the catalog open: one that had would have sized the -shm already,
// and the normal open would have read through it.
func openReadOnly(ctx context.Context, path string, cause error) (*SQLite, error) {
	why := readOnly(path, cause)
	if isDiskFull(path, cause) {
		why = diskFull(path)
	}
	if st, err := os.Stat(path + "-wal"); err == nil && st.Size() > 0 {
		return nil, fmt.Errorf("open catalog: its write-ahead log %s-wal holds changes that SQLite must write back before they can be read, and %w", path, unwritable(why))
	}
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&immutable=1")
	if err != nil {
		return nil, fmt.Errorf("open catalog: %w", err)
	}
	s := &SQLite{db: db, path: path, readOnly: why}
	v, err := s.version(ctx)
	switch {
	case errors.Is(err, ErrDamaged):
		db.Close()
		return nil, err
	case err != nil:
		db.Close()
		return nil, damaged(path, cause)
	case v > len(migrations):
		db.Close()
		return nil, ErrNewerSchema
	case v < len(migrations):
		db.Close()
		return nil, fmt.Errorf("catalog migration %d: %w", v+1, unwritable(why))
	}
	return s, nil
}

// ReadOnly is nil for a store that can write; otherwise it says why the
// store can only read, and what to do (it wraps ErrDiskFull or
// ErrReadOnly).
func (s *SQLite) ReadOnly() error { return s.readOnly }

// migrate applies the migrations after version v. It writes only when one
// is pending.
func (s *SQLite) migrate(ctx context.Context, v int) error {
	if v > len(migrations) {
		return ErrNewerSchema
	}
	for i := v; i < len(migrations); i++ {
		if err := s.apply(ctx, i+1); err != nil {
			return fmt.Errorf("catalog migration %d: %w", i+1, s.writeErr(err))
		}
	}
	return nil
}

// apply runs migration n in its own write transaction.
func (s *SQLite) apply(ctx context.Context, n int) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	// Another process may have migrated meanwhile.
	var done int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, n).Scan(&done); err != nil {
		return err
	}
	if done > 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, migrations[n-1]); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version) VALUES (?)`, n); err != nil {
		return err
	}
	return tx.Commit()
}

// SchemaVersion is the newest migration applied.
func (s *SQLite) SchemaVersion(ctx context.Context) (int, error) {
	var v sql.NullInt64
	if err := s.db.QueryRowContext(ctx, `SELECT max(version) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, fmt.Errorf("catalog schema version: %w", err)
	}
	return int(v.Int64), nil
}

// Close closes the database.
func (s *SQLite) Close() error { return s.db.Close() }

// AppendAudit implements AuditStore.
func (s *SQLite) AppendAudit(ctx context.Context, build func(last *AuditRecord) (AuditRecord, error), commit func(AuditRecord) error) (AuditRecord, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return AuditRecord{}, fmt.Errorf("audit append: %w", s.writeErr(err))
	}
	defer tx.Rollback()
	var last *AuditRecord
	row := tx.QueryRowContext(ctx, `SELECT seq, time, actor, action, target, result, details, prev_hash, hash FROM audit ORDER BY seq DESC LIMIT 1`)
	if r, err := scanAudit(row); err == nil {
		last = &r
	} else if !errors.Is(err, sql.ErrNoRows) {
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
	if _, err := tx.ExecContext(ctx, `INSERT INTO audit (seq, time, actor, action, target, result, details, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		rec.Seq, rec.Time, rec.Actor, rec.Action, rec.Target, rec.Result, string(details), rec.PrevHash, rec.Hash); err != nil {
		return AuditRecord{}, fmt.Errorf("audit append: %w", s.writeErr(err))
	}
	if commit != nil {
		if err := commit(rec); err != nil {
			return AuditRecord{}, err
		}
	}
	if err := tx.Commit(); err != nil {
		return AuditRecord{}, fmt.Errorf("audit append: %w", s.writeErr(err))
	}
	return rec, nil
}

type scanner interface{ Scan(dest ...any) error }

func scanAudit(row scanner) (AuditRecord, error) {
	var r AuditRecord
	var details string
	if err := row.Scan(&r.Seq, &r.Time, &r.Actor, &r.Action, &r.Target, &r.Result, &details, &r.PrevHash, &r.Hash); err != nil {
		return r, err
	}
	if err := json.Unmarshal([]byte(details), &r.Details); err != nil {
		return r, fmt.Errorf("audit record %d: details are not JSON: %w", r.Seq, err)
	}
	return r, nil
}

// ScanAudit implements AuditStore.
func (s *SQLite) ScanAudit(ctx context.Context, fn func(AuditRecord) error) error {
	rows, err := s.db.QueryContext(ctx, `SELECT seq, time, actor, action, target, result, details, prev_hash, hash FROM audit ORDER BY seq`)
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
	return rows.Err()
}

// LastAudit implements AuditStore.
func (s *SQLite) LastAudit(ctx context.Context) (AuditRecord, error) {
	row := s.db.QueryRowContext(ctx, `SELECT seq, time, actor, action, target, result, details, prev_hash, hash FROM audit ORDER BY seq DESC LIMIT 1`)
	r, err := scanAudit(row)
	if errors.Is(err, sql.ErrNoRows) {
		return r, ErrNotFound
	}
	return r, err
}

// Get implements KV.
func (s *SQLite) Get(ctx context.Context, key string) (json.RawMessage, error) {
	var v string
	err := s.db.QueryRowContext(ctx, `SELECT value FROM kv WHERE key = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("catalog get %q: %w", key, err)
	}
	return json.RawMessage(v), nil
}

// Put implements KV.
func (s *SQLite) Put(ctx context.Context, key string, value json.RawMessage) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, string(value))
	if err != nil {
		return fmt.Errorf("catalog put %q: %w", key, s.writeErr(err))
	}
	return nil
}

// DB exposes the database to this package's tests and to capability
// stores that add tables through migrations.
func (s *SQLite) DB() *sql.DB { return s.db }

var _ Store = (*SQLite)(nil)
