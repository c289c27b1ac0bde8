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
	db *sql.DB
}

// Path is where the catalog lives in a state dir.
func Path(stateDir string) string { return state.Dir(stateDir).Catalog() }

// Create makes a new catalog file and migrates it.
func Create(ctx context.Context, path string) (*SQLite, error) {
	return open(ctx, path, true)
}

// Open opens an existing catalog and applies any pending migrations. An
// empty file, or one without Steward's schema, is ErrDamaged: opening it
// must not quietly start a new, empty history in its place.
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
	q.Add("_pragma", "journal_mode(WAL)")
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
	if create {
		// Restrict the file before SQLite writes anything to it.
		f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			db.Close()
			return nil, fmt.Errorf("create catalog: %w", err)
		}
		f.Close()
	}
	s := &SQLite{db: db}
	if !create {
		var n int
		err := db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'`).Scan(&n)
		if err != nil || n == 0 {
			db.Close()
			why := "holds no Steward catalog"
			if err != nil {
				why = "cannot be read (" + err.Error() + ")"
			}
			return nil, fmt.Errorf("%w: %s %s: restore catalog.db from a backup of the state dir; nothing was changed", ErrDamaged, path, why)
		}
	}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

func (s *SQLite) migrate(ctx context.Context) error {
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied TEXT NOT NULL DEFAULT (datetime('now')))`); err != nil {
		return fmt.Errorf("catalog migrations: %w", err)
	}
	v, err := s.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	if v > len(migrations) {
		return ErrNewerSchema
	}
	for i := v; i < len(migrations); i++ {
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		// Another process may have migrated meanwhile.
		var done int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, i+1).Scan(&done); err != nil {
			tx.Rollback()
			return err
		}
		if done > 0 {
			tx.Rollback()
			continue
		}
		if _, err := tx.ExecContext(ctx, migrations[i]); err != nil {
			tx.Rollback()
			return fmt.Errorf("catalog migration %d: %w", i+1, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version) VALUES (?)`, i+1); err != nil {
			tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("catalog migration %d: %w", i+1, err)
		}
	}
	return nil
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
		return AuditRecord{}, fmt.Errorf("audit append: %w", err)
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
		return AuditRecord{}, fmt.Errorf("audit append: %w", err)
	}
	if commit != nil {
		if err := commit(rec); err != nil {
			return AuditRecord{}, err
		}
	}
	if err := tx.Commit(); err != nil {
		return AuditRecord{}, fmt.Errorf("audit append: %w", err)
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
		return fmt.Errorf("catalog put %q: %w", key, err)
	}
	return nil
}

// DB exposes the database to this package's tests and to capability
// stores that add tables through migrations.
func (s *SQLite) DB() *sql.DB { return s.db }

var _ Store = (*SQLite)(nil)
