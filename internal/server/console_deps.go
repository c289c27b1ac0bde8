package server

import (
	"context"
	"time"

	"steward/internal/audit"
	"steward/internal/clock"
)

// Operator is who is logged in to the console: a name (recorded as the
// actor of every audit record the console writes) and a role.
type Operator struct {
	Name string
	Role string
}

// Authenticator checks an operator's login. The error wraps ErrBadLogin,
// ErrLockedOut or ErrDisabled when the login is refused; any other error
// means the accounts could not be read.
type Authenticator interface {
	Login(ctx context.Context, name, password, via string) (Operator, error)
	// Lookup returns the account name as it is now, for a session to
	// check on each request: ErrBadLogin (no such account any more),
	// ErrDisabled or ErrLockedOut end the session.
	Lookup(ctx context.Context, name string) (Operator, error)
}

// Action is something an operator may be allowed to do in the console.
type Action string

// What the console asks an Authorizer about.
const (
	ActionView         Action = "view"
	ActionViewAudit    Action = "view_audit"
	ActionApproveErase Action = "approve_erase"
	ActionCancelErase  Action = "cancel_erase"
)

// Authorizer says whether op's role allows action.
type Authorizer interface {
	Can(op Operator, action Action) bool
}

// ConsoleBackend is what the console reads and does beyond Reader: the
// overview `steward status` computes, check history, erase plans and
// their approval (the same code path as `steward erase approve`), and the
// audit log.
type ConsoleBackend interface {
	Overview(ctx context.Context) (*Overview, error)
	// Checks are repository checks, newest first, at most limit.
	Checks(ctx context.Context, limit int) ([]Check, error)
	// ErasePlans are every erase plan, newest first.
	ErasePlans(ctx context.Context) ([]ErasePlan, error)
	// ApproveErase approves plan id as approver, who typed confirm as the
	// contract id; waiver is why no hand-over export is needed ("" none).
	// A refusal's error says why, for the operator.
	ApproveErase(ctx context.Context, id, approver, confirm, waiver string) error
	// CancelErase cancels plan id as by.
	CancelErase(ctx context.Context, id, by, reason string) error
	// Audit are at most limit audit records with a seq below before (0:
	// from the head), newest first.
	Audit(ctx context.Context, before int64, limit int) ([]audit.Record, error)
}

// Overview is the console's first page: what `steward status` says.
type Overview struct {
	Contract     string
	Customer     string
	EndDate      string
	DaysLeft     int
	TimeZone     string
	Now          string
	Clock        string
	ClockSynced  bool
	Backups      []BackupLine
	Repositories []RepositoryLine
	LastDrill    *Drill
	NextDrill    string
	Warnings     []string
	Attention    []string
}

// BackupLine is one source of one job.
type BackupLine struct {
	Job, Source, Repository string
	LastRun, LastResult     string
	LastSuccess, Age        string
	NextRun                 string
}

// RepositoryLine is one repository's last verdict ("" Time: never checked).
type RepositoryLine struct {
	Name, Time, By, Result, Detail string
}

// Check is one repository check from the audit log.
type Check struct {
	Seq        int64
	Time       string
	Repository string
	Result     string
	Detail     string
}

// ErasePlan is one erase plan as the console lists it.
type ErasePlan struct {
	ID              string
	Created         string
	Status          string
	Contract        string
	Planner         string
	Approver        string
	CoolingOffUntil string
	Handover        string
	Targets         int
}

// ConsoleDeps turn the console on (Deps.Console).
type ConsoleDeps struct {
	Backend ConsoleBackend
	Auth    Authenticator
	Roles   Authorizer
	// Clock times sessions (nil: the system clock).
	Clock clock.Clock
	// IdleTimeout and AbsoluteTimeout end a session (config's
	// server.session_idle_timeout and session_absolute_timeout).
	IdleTimeout, AbsoluteTimeout time.Duration
	// Secure marks cookies Secure: the server speaks TLS.
	Secure bool
}
