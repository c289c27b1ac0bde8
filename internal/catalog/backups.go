package catalog

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"
)

// RunRow is one backup run of one source into one repository. Record is
// the backup package's full run record (JSON); the columns index it.
type RunRow struct {
	ID         string
	Job        string
	Source     string
	Repository string
	SnapshotID string
	Started    string
	Finished   string
	// Result is "" while running, then "ok", "failed", "refused" or
	// "interrupted".
	Result string
	Record json.RawMessage
}

// SnapshotRow is a snapshot Steward made (primary repository).
type SnapshotRow struct {
	Repository string
	SnapshotID string
	Job        string
	Source     string
	Time       string
	Record     json.RawMessage
}

// ManifestRow is a snapshot's manifest: what the snapshot holds, recorded
// at backup time (names and hashes: contract data, erased at contract end).
type ManifestRow struct {
	SnapshotID string
	Source     string
	Kind       string
	// SHA256 names the body (see ManifestStore): several snapshots of an
	// unchanged source name one body.
	SHA256 string
}

// PutRun inserts or replaces a run.
func (s *SQLite) PutRun(ctx context.Context, r RunRow) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO runs (id, job, source, repository, snapshot_id, started, finished, result, record)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET snapshot_id = excluded.snapshot_id, finished = excluded.finished, result = excluded.result, record = excluded.record`,
		r.ID, r.Job, r.Source, r.Repository, r.SnapshotID, r.Started, r.Finished, r.Result, string(r.Record))
	if err != nil {
		return fmt.Errorf("catalog: save run: %w", s.writeErr(err))
	}
	return nil
}

// Run returns one run, or ErrNotFound.
func (s *SQLite) Run(ctx context.Context, id string) (RunRow, error) {
	rows, err := s.queryRuns(ctx, `WHERE id = ?`, id)
	if err != nil {
		return RunRow{}, err
	}
	if len(rows) == 0 {
		return RunRow{}, ErrNotFound
	}
	return rows[0], nil
}

// RunsWithResult returns the runs into repository whose result is result
// ("" for runs still marked as running), oldest first.
func (s *SQLite) RunsWithResult(ctx context.Context, repository, result string) ([]RunRow, error) {
	return s.queryRuns(ctx, `WHERE repository = ? AND result = ? ORDER BY started`, repository, result)
}

// JobRuns returns a job's runs, newest first, at most limit (all when
// limit <= 0, as for Drills; SQLite's LIMIT 0 would return none).
func (s *SQLite) JobRuns(ctx context.Context, job string, limit int) ([]RunRow, error) {
	if limit <= 0 {
		limit = -1
	}
	return s.queryRuns(ctx, `WHERE job = ? ORDER BY started DESC LIMIT ?`, job, limit)
}

func (s *SQLite) queryRuns(ctx context.Context, where string, args ...any) ([]RunRow, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, job, source, repository, snapshot_id, started, finished, result, record FROM runs `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("catalog: read runs: %w", err)
	}
	defer rows.Close()
	var out []RunRow
	for rows.Next() {
		var r RunRow
		var rec string
		if err := rows.Scan(&r.ID, &r.Job, &r.Source, &r.Repository, &r.SnapshotID, &r.Started, &r.Finished, &r.Result, &rec); err != nil {
			return nil, fmt.Errorf("catalog: read runs: %w", err)
		}
		r.Record = json.RawMessage(rec)
		out = append(out, r)
	}
	return out, rows.Err()
}

// PutSnapshot inserts or replaces a snapshot row.
func (s *SQLite) PutSnapshot(ctx context.Context, r SnapshotRow) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO snapshots (repository, snapshot_id, job, source, time, record) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (repository, snapshot_id) DO UPDATE SET record = excluded.record`,
		r.Repository, r.SnapshotID, r.Job, r.Source, r.Time, string(r.Record))
	if err != nil {
		return fmt.Errorf("catalog: save snapshot: %w", s.writeErr(err))
	}
	return nil
}

// Snapshot returns one snapshot row, or ErrNotFound.
func (s *SQLite) Snapshot(ctx context.Context, repository, snapshotID string) (SnapshotRow, error) {
	var r SnapshotRow
	var rec string
	err := s.db.QueryRowContext(ctx, `SELECT repository, snapshot_id, job, source, time, record FROM snapshots WHERE repository = ? AND snapshot_id = ?`,
		repository, snapshotID).Scan(&r.Repository, &r.SnapshotID, &r.Job, &r.Source, &r.Time, &rec)
	if errors.Is(err, sql.ErrNoRows) {
		return r, ErrNotFound
	}
	if err != nil {
		return r, fmt.Errorf("catalog: read snapshot: %w", err)
	}
	r.Record = json.RawMessage(rec)
	return r, nil
}

// DeleteSnapshot removes a snapshot row and its manifest (after retention
// forgot the snapshot). Deleting a missing row is not an error.
func (s *SQLite) DeleteSnapshot(ctx context.Context, repository, snapshotID string) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `DELETE FROM snapshots WHERE repository = ? AND snapshot_id = ?`, repository, snapshotID); err != nil {
		return fmt.Errorf("catalog: delete snapshot: %w", s.writeErr(err))
	}
	if err := s.deleteManifest(ctx, tx, snapshotID); err != nil {
		return err
	}
	return tx.Commit()
}

// JobSnapshots returns a job's snapshots, newest first.
func (s *SQLite) JobSnapshots(ctx context.Context, job string) ([]SnapshotRow, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT repository, snapshot_id, job, source, time, record FROM snapshots WHERE job = ? ORDER BY time DESC`, job)
	if err != nil {
		return nil, fmt.Errorf("catalog: read snapshots: %w", err)
	}
	defer rows.Close()
	var out []SnapshotRow
	for rows.Next() {
		var r SnapshotRow
		var rec string
		if err := rows.Scan(&r.Repository, &r.SnapshotID, &r.Job, &r.Source, &r.Time, &rec); err != nil {
			return nil, fmt.Errorf("catalog: read snapshots: %w", err)
		}
		r.Record = json.RawMessage(rec)
		out = append(out, r)
	}
	return out, rows.Err()
}

// RunsStartedBetween returns the runs whose start time (RFC 3339) lies in
// [from, to), oldest first. Times are compared and ordered as instants,
// not as text: start times written with different offsets (a zone's
// daylight-saving change) still come in time order.
func (s *SQLite) RunsStartedBetween(ctx context.Context, from, to time.Time) ([]RunRow, error) {
	all, err := s.queryRuns(ctx, `ORDER BY started`)
	if err != nil {
		return nil, err
	}
	return runsBetween(all, from, to)
}

// runsBetween keeps the runs whose start lies in [from, to), in order of
// their instants.
func runsBetween(all []RunRow, from, to time.Time) ([]RunRow, error) {
	var out []RunRow
	var starts []time.Time
	for _, r := range all {
		t, err := time.Parse(time.RFC3339Nano, r.Started)
		if err != nil {
			return nil, fmt.Errorf("catalog: run %s has a bad start time %q", r.ID, r.Started)
		}
		if !t.Before(from) && t.Before(to) {
			out = append(out, r)
			starts = append(starts, t)
		}
	}
	sort.Stable(byInstant{out, starts})
	return out, nil
}

// byInstant sorts runs by their parsed start times.
type byInstant struct {
	runs   []RunRow
	starts []time.Time
}

func (b byInstant) Len() int           { return len(b.runs) }
func (b byInstant) Less(i, j int) bool { return b.starts[i].Before(b.starts[j]) }
func (b byInstant) Swap(i, j int) {
	b.runs[i], b.runs[j] = b.runs[j], b.runs[i]
	b.starts[i], b.starts[j] = b.starts[j], b.starts[i]
}
