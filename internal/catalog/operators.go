package catalog

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// OperatorRow is one operator account. Times are RFC 3339 (clock.Layout).
type OperatorRow struct {
	Name string
	// Role is the auth package's role name (operator, approver, auditor,
	// admin).
	Role string
	// Hash is the password's PHC-style argon2id string; never the
	// password.
	Hash     string
	Disabled bool
	// Failures counts consecutive failed logins (a success resets it).
	Failures int
	// LockedUntil is when a lockout ends; "" when not locked. A lockout
	// that lasts until an admin unlocks it is a far-future time (the auth
	// package decides).
	LockedUntil     string
	Created         string
	Updated         string
	PasswordChanged string
}

const operatorColumns = `name, role, hash, disabled, failures, locked_until, created, updated, password_changed`

func scanOperator(row scanner) (OperatorRow, error) {
	var o OperatorRow
	err := row.Scan(&o.Name, &o.Role, &o.Hash, &o.Disabled, &o.Failures, &o.LockedUntil, &o.Created, &o.Updated, &o.PasswordChanged)
	return o, err
}

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func putOperator(ctx context.Context, db execer, o OperatorRow) error {
	_, err := db.ExecContext(ctx, `INSERT INTO operators (`+operatorColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET role = excluded.role, hash = excluded.hash, disabled = excluded.disabled,
		failures = excluded.failures, locked_until = excluded.locked_until, created = excluded.created,
		updated = excluded.updated, password_changed = excluded.password_changed`,
		o.Name, o.Role, o.Hash, o.Disabled, o.Failures, o.LockedUntil, o.Created, o.Updated, o.PasswordChanged)
	return err
}

// PutOperator implements OperatorStore.
func (s *SQLite) PutOperator(ctx context.Context, o OperatorRow) error {
	if err := putOperator(ctx, s.db, o); err != nil {
		return fmt.Errorf("catalog: save operator %q: %w", o.Name, s.writeErr(err))
	}
	return nil
}

// Operator implements OperatorStore.
func (s *SQLite) Operator(ctx context.Context, name string) (OperatorRow, error) {
	o, err := scanOperator(s.db.QueryRowContext(ctx, `SELECT `+operatorColumns+` FROM operators WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return OperatorRow{}, ErrNotFound
	}
	if err != nil {
		return OperatorRow{}, fmt.Errorf("catalog: read operator %q: %w", name, err)
	}
	return o, nil
}

// Operators implements OperatorStore.
func (s *SQLite) Operators(ctx context.Context) ([]OperatorRow, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+operatorColumns+` FROM operators ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("catalog: read operators: %w", err)
	}
	defer rows.Close()
	var out []OperatorRow
	for rows.Next() {
		o, err := scanOperator(rows)
		if err != nil {
			return nil, fmt.Errorf("catalog: read operators: %w", err)
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

// UpdateOperator implements OperatorStore. The transaction begins
// IMMEDIATE (the store's _txlock), so it holds the write lock from the
// read on.
func (s *SQLite) UpdateOperator(ctx context.Context, name string, fn func(*OperatorRow) error) (OperatorRow, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return OperatorRow{}, fmt.Errorf("catalog: update operator %q: %w", name, s.writeErr(err))
	}
	defer tx.Rollback()
	o, err := scanOperator(tx.QueryRowContext(ctx, `SELECT `+operatorColumns+` FROM operators WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
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
	if err := putOperator(ctx, tx, o); err != nil {
		return OperatorRow{}, fmt.Errorf("catalog: update operator %q: %w", name, s.writeErr(err))
	}
	if err := tx.Commit(); err != nil {
		return OperatorRow{}, fmt.Errorf("catalog: update operator %q: %w", name, s.writeErr(err))
	}
	return o, nil
}
