package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"steward/erase"
	"steward/internal/audit"
	"steward/internal/auth"
	"steward/internal/clock"
	"steward/internal/repo"
	"steward/internal/server"
)

// consoleDeps are the web console's: this app's operator accounts, the
// backend below, the contract's clock and server.session_* timeouts.
func (a *App) consoleDeps(o Options) *server.ConsoleDeps {
	acc := consoleAccounts{a.Auth()}
	return &server.ConsoleDeps{Backend: &consoleBackend{a: a, o: o}, Auth: acc, Roles: acc, Clock: a.Clock,
		IdleTimeout: a.Config.Server.SessionIdleTimeout.D(), AbsoluteTimeout: a.Config.Server.SessionAbsoluteTimeout.D(),
		Secure: a.Config.Server.TLSCert != ""}
}

// consoleAccounts is auth.Service as the console's Authenticator and
// Authorizer.
type consoleAccounts struct{ s *auth.Service }

// consoleActions are the console's actions in auth's terms.
var consoleActions = map[server.Action]auth.Action{
	server.ActionView: auth.ActionView, server.ActionViewAudit: auth.ActionViewAudit,
	server.ActionApproveErase: auth.ActionApproveErase, server.ActionCancelErase: auth.ActionCancelErase,
}

func (c consoleAccounts) Login(ctx context.Context, name, password, via string) (server.Operator, error) {
	op, err := c.s.Login(ctx, name, password, via)
	return consoleOperator(op, err)
}

func (c consoleAccounts) Lookup(ctx context.Context, name string) (server.Operator, error) {
	op, err := c.s.Lookup(ctx, name)
	return consoleOperator(op, err)
}

// consoleOperator is auth's answer in the console's terms.
func consoleOperator(op auth.Operator, err error) (server.Operator, error) {
	switch {
	case errors.Is(err, auth.ErrLockedOut):
		return server.Operator{}, fmt.Errorf("%w: %w", server.ErrLockedOut, err)
	case errors.Is(err, auth.ErrDisabled):
		return server.Operator{}, fmt.Errorf("%w: %w", server.ErrDisabled, err)
	case errors.Is(err, auth.ErrBadLogin), errors.Is(err, auth.ErrNoUser):
		return server.Operator{}, fmt.Errorf("%w: %w", server.ErrBadLogin, err)
	case err != nil:
		return server.Operator{}, err
	}
	return server.Operator{Name: op.Name, Role: string(op.Role)}, nil
}

func (c consoleAccounts) Can(op server.Operator, action server.Action) bool {
	a, ok := consoleActions[action]
	return ok && c.s.Can(auth.Operator{Name: op.Name, Role: auth.Role(op.Role)}, a)
}

// consoleBackend answers the web console from the same code the CLI
// runs: Status for the overview, the erase engine for plans and their
// approval, the audit log for checks and the audit page.
type consoleBackend struct {
	a *App
	o Options
}

var _ server.ConsoleBackend = (*consoleBackend)(nil)

func (b *consoleBackend) Overview(ctx context.Context) (*server.Overview, error) {
	st, err := Status(ctx, b.o)
	if err != nil {
		return nil, err
	}
	ov := &server.Overview{Contract: st.Contract, Customer: st.Customer, EndDate: st.EndDate, DaysLeft: st.DaysLeft,
		TimeZone: st.TimeZone, Now: st.Now, Clock: st.Clock.String(), ClockSynced: st.Clock.State == clock.Synchronised,
		NextDrill: st.NextDrill, Warnings: st.Warnings, Attention: st.Attention}
	for _, bs := range st.Backups {
		ov.Backups = append(ov.Backups, server.BackupLine{Job: bs.Job, Source: bs.Source, Repository: bs.Repository,
			LastRun: bs.LastRun, LastResult: bs.LastResult, LastSuccess: bs.LastSuccess, Age: bs.Age, NextRun: bs.NextRun})
	}
	for _, r := range b.a.Config.Repositories {
		line := server.RepositoryLine{Name: r.Name}
		if i := slices.IndexFunc(st.Health, func(h repo.Health) bool { return h.Repository == r.Name }); i >= 0 {
			h := st.Health[i]
			line.Time, line.By, line.Result, line.Detail = h.Time, h.By, h.Result, h.Detail
		}
		ov.Repositories = append(ov.Repositories, line)
	}
	if d := st.LastDrill; d != nil {
		ov.LastDrill = &server.Drill{ID: d.ID, Job: d.Job, Source: d.Source, Repository: d.Repository, Started: d.Started, Result: d.Result}
	}
	return ov, nil
}

// Checks are the audit log's repository.check records, newest first.
func (b *consoleBackend) Checks(ctx context.Context, limit int) ([]server.Check, error) {
	var out []server.Check
	err := b.a.Audit.Scan(ctx, func(r audit.Record) error {
		if r.Action != "repository.check" {
			return nil
		}
		detail := r.Details["error"]
		if s := r.Details["read_data_subset"]; s != "" {
			detail = "read-data-subset " + s
		}
		out = append(out, server.Check{Seq: r.Seq, Time: r.Time, Repository: strings.TrimPrefix(r.Target, "repository:"), Result: r.Result, Detail: detail})
		if len(out) > limit {
			out = out[1:]
		}
		return nil
	})
	slices.Reverse(out)
	return out, err
}

func (b *consoleBackend) ErasePlans(ctx context.Context) ([]server.ErasePlan, error) {
	// Read from the catalog, not through an Eraser: the plans stay
	// listable after the master key is destroyed.
	rows, err := b.a.Catalog.ErasePlans(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]server.ErasePlan, 0, len(rows))
	for _, row := range rows {
		var p erase.Plan
		if err := json.Unmarshal(row.Record, &p); err != nil {
			return nil, fmt.Errorf("erase plan %s in the catalog: %w", row.ID, err)
		}
		ep := server.ErasePlan{ID: p.ID, Created: p.Created, Status: p.Status, Contract: p.Contract.ID, Planner: p.Planner,
			Handover: p.Handover, Targets: len(p.Targets)}
		if p.Approval != nil {
			ep.Approver, ep.CoolingOffUntil = p.Approval.By, p.Approval.CoolingOffUntil
		}
		out = append(out, ep)
	}
	return out, nil
}

// ApproveErase is `steward erase approve` once its operator has logged
// in (erase.Eraser.Approve under the operator's audit actor): the
// approvers list, planner ≠ approver, the typed contract id, the
// cooling-off and the hand-over rule are erase's own checks.
func (b *consoleBackend) ApproveErase(ctx context.Context, id, approver, confirm, waiver string) error {
	ctx = audit.WithActor(ctx, auth.Actor(approver)) // erase's records name the operator
	e, err := b.a.Eraser(ctx)
	if err != nil {
		return err
	}
	_, err = e.Approve(ctx, id, approver, confirm, waiver)
	return err
}

// CancelErase is `steward erase cancel`.
func (b *consoleBackend) CancelErase(ctx context.Context, id, by, reason string) error {
	ctx = audit.WithActor(ctx, auth.Actor(by))
	e, err := b.a.Eraser(ctx)
	if err != nil {
		return err
	}
	_, err = e.Cancel(ctx, id, by, reason)
	return err
}

// Audit reads the log through once, keeping the last limit records below
// before.
func (b *consoleBackend) Audit(ctx context.Context, before int64, limit int) ([]audit.Record, error) {
	if limit < 1 {
		return nil, errors.New("console audit page: limit must be positive")
	}
	var out []audit.Record
	err := b.a.Audit.Scan(ctx, func(r audit.Record) error {
		if before > 0 && r.Seq >= before {
			return nil
		}
		out = append(out, r)
		if len(out) > limit {
			out = out[1:]
		}
		return nil
	})
	slices.Reverse(out)
	return out, err
}
