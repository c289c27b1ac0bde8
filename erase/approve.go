package erase

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"steward/internal/audit"
	"steward/internal/catalog"
	"steward/internal/errs"
)

// Refusals of the misoperation safeguards (req 12). Each is audited.
var (
	// ErrRefused wraps every refusal below.
	ErrRefused = errors.New("refused")
	// ErrFrozen means the contract's data is being erased: backups,
	// drills and restores are refused.
	ErrFrozen = errors.New("the contract's data is being erased")
)

func refused(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrRefused, fmt.Sprintf(format, args...))
}

// Approve records approver's approval of plan id. It is refused unless
// the approver is one of erase.approvers and is not the planner, confirm
// is the contract id typed out, the plan is still only planned, every
// target was counted and may be deleted with the credential execute will
// use, and the plan records a hand-over export or the approver waives it
// (waiver: the reason, typed out; req 4). Execute may start once
// erase.cooling_off has passed.
func (e *Eraser) Approve(ctx context.Context, id, approver, confirm, waiver string) (*Plan, error) {
	p, err := e.Plan(ctx, id)
	if err != nil {
		return nil, err
	}
	err = e.approvable(p, approver, confirm)
	if err == nil && p.Handover == "" && strings.TrimSpace(waiver) == "" {
		err = refused("plan %s records no hand-over export (req 4): run `steward handover export --to DIR` and make a new plan, or waive it with --waive-handover 'WHY'", p.ID)
	}
	if err != nil {
		e.rec.Record(ctx, "erase.approve", "plan:"+id, audit.ResultDenied, map[string]string{"approver": approver, "reason": err.Error()})
		return nil, err
	}
	now := e.clock.Now()
	p.Status = StatusApproved
	p.Approval = &Approval{By: approver, Time: e.clock.Format(now), CoolingOffUntil: e.clock.Format(now.Add(e.cfg.Erase.CoolingOff.D()))}
	details := map[string]string{"approver": approver, "planner": p.Planner, "hash": p.Hash, "cooling_off_until": p.Approval.CoolingOffUntil}
	if p.Handover == "" {
		p.Approval.HandoverWaived = strings.TrimSpace(waiver)
		details["handover_waived"] = p.Approval.HandoverWaived
	}
	if err := e.save(ctx, p); err != nil {
		return nil, err
	}
	e.rec.Record(ctx, "erase.approve", "plan:"+id, audit.ResultOK, details)
	return p, nil
}

func (e *Eraser) approvable(p *Plan, approver, confirm string) error {
	switch {
	case approver == "":
		return errs.AsUsage(refused("--as: say who approves"))
	case p.Status != StatusPlanned:
		return refused("plan %s is %s, not waiting for approval", p.ID, p.Status)
	case !slices.Contains(e.cfg.Erase.Approvers, approver):
		return refused("%q is not one of erase.approvers (%s): only they may approve an erase", approver, strings.Join(e.cfg.Erase.Approvers, ", "))
	case approver == p.Planner:
		return refused("%q made plan %s: a second person must approve it", approver, p.ID)
	case confirm != e.cfg.Contract.ID:
		return refused("--confirm must be the contract id typed out (%s), to show which contract's data is erased", e.cfg.Contract.ID)
	case p.Contract.ID != e.cfg.Contract.ID:
		return refused("plan %s is for contract %s, the config is for %s", p.ID, p.Contract.ID, e.cfg.Contract.ID)
	}
	var bad []string
	for _, t := range p.Targets {
		switch {
		case t.Error != "":
			bad = append(bad, fmt.Sprintf("%s was not counted (%s)", t.ID, t.Error))
		case !t.Absent && strings.HasPrefix(t.Access, "denied"):
			bad = append(bad, fmt.Sprintf("%s could not be deleted (%s)", t.ID, t.Access))
		}
	}
	if len(bad) > 0 {
		return refused("plan %s cannot be executed as it stands: %s; fix the config or the credentials and make a new plan", p.ID, strings.Join(bad, "; "))
	}
	return nil
}

// Cancel stops plan id before execution: it never executes.
func (e *Eraser) Cancel(ctx context.Context, id, by, reason string) (*Plan, error) {
	p, err := e.Plan(ctx, id)
	if err != nil {
		return nil, err
	}
	if by == "" {
		err = errs.AsUsage(refused("--as: say who cancels"))
	} else if p.Status != StatusPlanned && p.Status != StatusApproved {
		err = refused("plan %s is %s: only a plan not yet executing can be cancelled", id, p.Status)
	}
	if err != nil {
		e.rec.Record(ctx, "erase.cancel", "plan:"+id, audit.ResultDenied, map[string]string{"by": by, "reason": err.Error()})
		return nil, err
	}
	p.Status = StatusCancelled
	p.Cancelled = &Cancelled{By: by, Time: e.now(), Reason: reason}
	if err := e.save(ctx, p); err != nil {
		return nil, err
	}
	e.rec.Record(ctx, "erase.cancel", "plan:"+id, audit.ResultOK, map[string]string{"by": by, "hash": p.Hash})
	return p, nil
}

// CheckExecutable refuses to execute plan p unless it is approved (or
// already executing: a resumed run; or done: the run then only reports)
// and its cooling-off has passed.
func (e *Eraser) CheckExecutable(p *Plan, now time.Time) error {
	switch p.Status {
	case StatusExecuting, StatusDone:
		return nil
	case StatusApproved:
	case StatusPlanned:
		return refused("plan %s is not approved: a second person runs `steward erase approve %s --as NAME --confirm %s`", p.ID, p.ID, p.Contract.ID)
	default:
		return refused("plan %s is %s", p.ID, p.Status)
	}
	until, err := e.clock.Parse(p.Approval.CoolingOffUntil)
	if err != nil {
		return fmt.Errorf("plan %s: cooling-off time %q: %w", p.ID, p.Approval.CoolingOffUntil, err)
	}
	if now.Before(until) {
		return refused("plan %s is in its cooling-off period until %s (%s from now): execute then, or cancel it with `steward erase cancel %s`",
			p.ID, p.Approval.CoolingOffUntil, until.Sub(now).Round(time.Second), p.ID)
	}
	return nil
}

// FrozenKey is the catalog KV key that freezes the contract: once erase
// has started, it names the plan.
const FrozenKey = "erase.frozen"

// Freeze is the frozen state as stored.
type Freeze struct {
	Plan  string `json:"plan"`
	Since string `json:"since"`
}

// KV is the catalog's key-value store.
type KV = catalog.KV

// CheckNotFrozen refuses work on the contract's data (what) once an erase
// has frozen it; backups, drills and restores call it before they start.
func CheckNotFrozen(ctx context.Context, kv KV, what string) error {
	v, err := kv.Get(ctx, FrozenKey)
	if errors.Is(err, catalog.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("check whether the contract is being erased: %w", err)
	}
	var f Freeze
	if err := json.Unmarshal(v, &f); err != nil || f.Plan == "" {
		return fmt.Errorf("%w (the catalog's %s entry is unreadable): %s are refused", ErrFrozen, FrozenKey, what)
	}
	return fmt.Errorf("%w under plan %s since %s: %s are refused (see `steward erase show %s`)", ErrFrozen, f.Plan, f.Since, what, f.Plan)
}

// freeze records that plan p has started: from now on backups, drills and
// restores are refused.
func (e *Eraser) freeze(ctx context.Context, p *Plan) error {
	b, _ := json.Marshal(Freeze{Plan: p.ID, Since: e.now()})
	return e.store.Put(ctx, FrozenKey, b)
}
