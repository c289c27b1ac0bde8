package catalog

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
)

// DrillRow is one restore drill. Record is the drills package's full
// record (JSON); the columns index it.
type DrillRow struct {
	ID       string
	Job      string
	Started  string
	Finished string
	// Result is "" while the drill runs, then "passed", "failed" or
	// "interrupted".
	Result string
	Record json.RawMessage
}

// PutDrill inserts or replaces a drill.
func (s *SQLite) PutDrill(ctx context.Context, r DrillRow) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO drills (id, job, started, finished, result, record) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET finished = excluded.finished, result = excluded.result, record = excluded.record`,
		r.ID, r.Job, r.Started, r.Finished, r.Result, string(r.Record))
	if err != nil {
		return fmt.Errorf("catalog: save drill: %w", s.writeErr(err))
	}
	return nil
}

// Drill returns one drill, or ErrNotFound.
func (s *SQLite) Drill(ctx context.Context, id string) (DrillRow, error) {
	rows, err := s.queryDrills(ctx, `WHERE id = ?`, id)
	if err != nil {
		return DrillRow{}, err
	}
	if len(rows) == 0 {
		return DrillRow{}, ErrNotFound
	}
	return rows[0], nil
}

// Drills returns the newest drills first, at most limit (all when limit
// is 0).
func (s *SQLite) Drills(ctx context.Context, limit int) ([]DrillRow, error) {
	if limit <= 0 {
		limit = -1
	}
	return s.queryDrills(ctx, `ORDER BY started DESC, id DESC LIMIT ?`, limit)
}

// DrillsWithResult returns the drills whose result is result ("" for
// drills still marked as running), oldest first.
func (s *SQLite) DrillsWithResult(ctx context.Context, result string) ([]DrillRow, error) {
	return s.queryDrills(ctx, `WHERE result = ? ORDER BY started`, result)
}

func (s *SQLite) queryDrills(ctx context.Context, where string, args ...any) ([]DrillRow, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, job, started, finished, result, record FROM drills `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("catalog: read drills: %w", err)
	}
	defer rows.Close()
	var out []DrillRow
	for rows.Next() {
		var r DrillRow
		var rec string
		if err := rows.Scan(&r.ID, &r.Job, &r.Started, &r.Finished, &r.Result, &rec); err != nil {
			return nil, fmt.Errorf("catalog: read drills: %w", err)
		}
		r.Record = json.RawMessage(rec)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	return out, nil
}
