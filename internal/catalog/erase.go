package catalog

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
)

// ErasePlanRow is one contract-end erase plan. Record is the erase
// package's full plan (JSON: inventory, approvals, hash); the columns
// index it.
type ErasePlanRow struct {
	ID      string
	Created string
	// Status is the plan's state (the erase package names them).
	Status string
	Record json.RawMessage
}

// JournalRow is one step of an erase plan's execution: written when the
// step starts and again when it ends, before the next one begins.
type JournalRow struct {
	PlanID   string
	Step     int
	Name     string
	Started  string
	Finished string
	// Result is "" while the step runs.
	Result   string
	Evidence json.RawMessage
}

// PutErasePlan inserts or updates a plan (Status and Record).
func (s *SQLite) PutErasePlan(ctx context.Context, p ErasePlanRow) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO erase_plans (id, created, status, record) VALUES (?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET status = excluded.status, record = excluded.record`,
		p.ID, p.Created, p.Status, string(p.Record))
	if err != nil {
		return fmt.Errorf("catalog: save erase plan: %w", s.writeErr(err))
	}
	return nil
}

// ErasePlan returns one plan, or ErrNotFound.
func (s *SQLite) ErasePlan(ctx context.Context, id string) (ErasePlanRow, error) {
	var p ErasePlanRow
	var rec string
	err := s.db.QueryRowContext(ctx, `SELECT id, created, status, record FROM erase_plans WHERE id = ?`, id).Scan(&p.ID, &p.Created, &p.Status, &rec)
	if errors.Is(err, sql.ErrNoRows) {
		return p, ErrNotFound
	}
	if err != nil {
		return p, fmt.Errorf("catalog: read erase plan: %w", err)
	}
	p.Record = json.RawMessage(rec)
	return p, nil
}

// ErasePlans returns every plan, newest first by Created, ties by
// descending ID.
func (s *SQLite) ErasePlans(ctx context.Context) ([]ErasePlanRow, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, created, status, record FROM erase_plans ORDER BY created DESC, id DESC`)
	if err != nil {
		return nil, fmt.Errorf("catalog: read erase plans: %w", err)
	}
	defer rows.Close()
	var out []ErasePlanRow
	for rows.Next() {
		var p ErasePlanRow
		var rec string
		if err := rows.Scan(&p.ID, &p.Created, &p.Status, &rec); err != nil {
			return nil, fmt.Errorf("catalog: read erase plans: %w", err)
		}
		p.Record = json.RawMessage(rec)
		out = append(out, p)
	}
	return out, rows.Err()
}

// PutJournal inserts or updates one journal step (by PlanID and Step).
func (s *SQLite) PutJournal(ctx context.Context, j JournalRow) error {
	ev := string(j.Evidence)
	if ev == "" {
		ev = "{}"
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO erase_journal (plan_id, step, name, started, finished, result, evidence) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (plan_id, step) DO UPDATE SET name = excluded.name, started = excluded.started, finished = excluded.finished,
		result = excluded.result, evidence = excluded.evidence`,
		j.PlanID, j.Step, j.Name, j.Started, j.Finished, j.Result, ev)
	if err != nil {
		return fmt.Errorf("catalog: save erase journal: %w", s.writeErr(err))
	}
	return nil
}

// Journal returns a plan's journal in step order.
func (s *SQLite) Journal(ctx context.Context, planID string) ([]JournalRow, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT plan_id, step, name, started, finished, result, evidence FROM erase_journal WHERE plan_id = ? ORDER BY step`, planID)
	if err != nil {
		return nil, fmt.Errorf("catalog: read erase journal: %w", err)
	}
	defer rows.Close()
	var out []JournalRow
	for rows.Next() {
		var j JournalRow
		var ev string
		if err := rows.Scan(&j.PlanID, &j.Step, &j.Name, &j.Started, &j.Finished, &j.Result, &ev); err != nil {
			return nil, fmt.Errorf("catalog: read erase journal: %w", err)
		}
		j.Evidence = json.RawMessage(ev)
		out = append(out, j)
	}
	return out, rows.Err()
}
