package catalog

import (
	"context"
	"fmt"
)

// ClaimRun implements ScheduleStore.
func (s *SQLite) ClaimRun(ctx context.Context, c ClaimRow) (bool, error) {
	res, err := s.db.ExecContext(ctx, `INSERT INTO schedule_claims (job, due, daemon, claimed) VALUES (?, ?, ?, ?) ON CONFLICT (job, due) DO NOTHING`,
		c.Job, c.Due, c.Daemon, c.Claimed)
	if err != nil {
		return false, fmt.Errorf("catalog: claim run of %s due %s: %w", c.Job, c.Due, s.writeErr(err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("catalog: claim run of %s due %s: %w", c.Job, c.Due, err)
	}
	return n == 1, nil
}

// Claims implements ScheduleStore.
func (s *SQLite) Claims(ctx context.Context, job string, limit int) ([]ClaimRow, error) {
	if limit <= 0 {
		limit = -1
	}
	rows, err := s.db.QueryContext(ctx, `SELECT job, due, daemon, claimed FROM schedule_claims WHERE job = ? ORDER BY due DESC LIMIT ?`, job, limit)
	if err != nil {
		return nil, fmt.Errorf("catalog: read claims: %w", err)
	}
	defer rows.Close()
	var out []ClaimRow
	for rows.Next() {
		var c ClaimRow
		if err := rows.Scan(&c.Job, &c.Due, &c.Daemon, &c.Claimed); err != nil {
			return nil, fmt.Errorf("catalog: read claims: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}
