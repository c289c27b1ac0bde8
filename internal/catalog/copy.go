package catalog

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// copyTables are the tables CopyToPostgres moves, in an order that keeps
// references whole (a chunk after its body), with their columns and key.
// Every table of the schema is here but SQLite's unused accounts.
var copyTables = []struct {
	name, columns, key string
	// boolCol is a column SQLite keeps as 0/1 and PostgreSQL as BOOLEAN.
	boolCol string
}{
	{"audit", "seq, time, actor, action, target, result, details, prev_hash, hash", "seq", ""},
	{"kv", "key, value", "key", ""},
	{"runs", "id, job, source, repository, snapshot_id, started, finished, result, record", "id", ""},
	{"snapshots", "repository, snapshot_id, job, source, time, record", "repository, snapshot_id", ""},
	{"manifest_bodies", "sha256, codec, size", "sha256", ""},
	{"manifest_chunks", "sha256, seq, data", "sha256, seq", ""},
	{"manifests", "snapshot_id, source, kind, sha256", "snapshot_id", ""},
	{"drills", "id, job, started, finished, result, record", "id", ""},
	{"erase_plans", "id, created, status, record", "id", ""},
	{"erase_journal", "plan_id, step, name, started, finished, result, evidence", "plan_id, step", ""},
	{"operators", operatorColumns, "name", "disabled"},
	{"schedule_claims", "job, due, daemon, claimed", "job, due", ""},
}

// TableCount is how many rows one table holds.
type TableCount struct {
	Table string `json:"table"`
	Rows  int64  `json:"rows"`
}

// CopyToPostgres copies every row of the SQLite catalog from into the
// PostgreSQL catalog to, verbatim (audit records keep their seq and
// hashes, manifest bodies their chunks and codec), in one transaction:
// either everything is copied or nothing is. A target that holds any row
// is refused with ErrNotEmpty naming its tables, and nothing changes. It
// returns the rows per table, checked equal in both after the copy.
func CopyToPostgres(ctx context.Context, from *SQLite, to *Postgres) ([]TableCount, error) {
	if v, err := from.SchemaVersion(ctx); err != nil {
		return nil, err
	} else if v != len(migrations) {
		return nil, fmt.Errorf("copy catalog: the SQLite catalog is at schema %d, not %d: open it with this Steward once (any command) to migrate it", v, len(migrations))
	}
	if err := to.CheckEmpty(ctx); err != nil {
		return nil, err
	}
	var out []TableCount
	err := pgx.BeginFunc(ctx, to.pool, func(tx pgx.Tx) error {
		// No daemon appends to the target's audit log meanwhile.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, 0)`, lockAudit); err != nil {
			return err
		}
		for _, t := range copyTables {
			n, err := copyTable(ctx, from.db, tx, t.name, t.columns, t.key, t.boolCol)
			if err != nil {
				return fmt.Errorf("table %s: %w", t.name, err)
			}
			out = append(out, TableCount{Table: t.name, Rows: n})
		}
		got, err := to.counts(ctx, tx)
		if err != nil {
			return err
		}
		for i, c := range got {
			var src int64
			if err := from.db.QueryRowContext(ctx, `SELECT count(*) FROM `+c.Table).Scan(&src); err != nil {
				return fmt.Errorf("count %s: %w", c.Table, err)
			}
			if c.Rows != src || c.Rows != out[i].Rows {
				return fmt.Errorf("table %s: %d rows in the SQLite catalog, %d copied, %d in PostgreSQL", c.Table, src, out[i].Rows, c.Rows)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("copy catalog to %s: %w; nothing was copied", to.name, err)
	}
	return out, nil
}

// CheckEmpty returns nil if no table of the catalog holds a row, else an
// error wrapping ErrNotEmpty that names the tables that do.
func (p *Postgres) CheckEmpty(ctx context.Context) error {
	have, err := p.counts(ctx, p.pool)
	if err != nil {
		return err
	}
	var full []string
	for _, c := range have {
		if c.Rows > 0 {
			full = append(full, fmt.Sprintf("%s (%d rows)", c.Table, c.Rows))
		}
	}
	if len(full) > 0 {
		return fmt.Errorf("copy catalog: %w: %s holds %s; nothing was copied: give catalog.postgres an empty database", ErrNotEmpty, p.name, strings.Join(full, ", "))
	}
	return nil
}

// counts counts the rows of every copied table in q (the pool or a
// transaction).
func (p *Postgres) counts(ctx context.Context, q interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}) ([]TableCount, error) {
	var out []TableCount
	for _, t := range copyTables {
		var n int64
		if err := q.QueryRow(ctx, `SELECT count(*) FROM `+t.name).Scan(&n); err != nil {
			return nil, fmt.Errorf("catalog %s: count %s: %w", p.name, t.name, err)
		}
		out = append(out, TableCount{Table: t.name, Rows: n})
	}
	return out, nil
}

// copyTable streams one table's rows, in key order, from SQLite into the
// transaction.
func copyTable(ctx context.Context, src *sql.DB, tx pgx.Tx, table, columns, key, boolCol string) (int64, error) {
	cols := strings.Split(columns, ", ")
	rows, err := src.QueryContext(ctx, `SELECT `+columns+` FROM `+table+` ORDER BY `+key)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	marks := make([]string, len(cols))
	for i := range cols {
		marks[i] = fmt.Sprintf("$%d", i+1)
	}
	insert := `INSERT INTO ` + table + ` (` + columns + `) VALUES (` + strings.Join(marks, ", ") + `)`
	var n int64
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return n, err
		}
		args := make([]any, len(cols))
		for i, v := range vals {
			if cols[i] == boolCol {
				v = v != nil && v != int64(0)
			}
			args[i] = v
		}
		if _, err := tx.Exec(ctx, insert, args...); err != nil {
			return n, err
		}
		n++
	}
	return n, rows.Err()
}
