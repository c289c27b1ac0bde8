package drills

import (
	"context"
	"errors"
	"fmt"

	"steward/internal/audit"
	"steward/internal/errs"
	"steward/internal/repo"
	"steward/internal/resticx"
)

// CheckResult is one repository check.
type CheckResult struct {
	Repository string `json:"repository"`
	Subset     Subset `json:"read_data_subset"`
	// Result is ResultPassed or ResultFailed.
	Result string `json:"result"`
	Detail string `json:"detail,omitempty"`
	// Health is the repository's verdict after the check.
	Health repo.Health `json:"health"`
}

// CheckRepository checks repository name's structure and reads its next
// data subset (restic check --read-data-subset k/N, the count shared with
// drills), holding Steward's lock on it, and records the verdict: a pass
// clears an earlier failure, a failure marks it failing (status and every
// backup run show it) until a check passes again. The error wraps
// errs.ErrVerificationFailed when the repository's data failed the check.
func (d *Driller) CheckRepository(ctx context.Context, name string) (*CheckResult, error) {
	res := &CheckResult{Repository: name}
	r, err := d.repos.Open(ctx, name)
	if err != nil {
		return nil, err
	}
	release, err := d.repos.Lock(ctx, []string{name})
	if err != nil {
		return nil, err
	}
	defer release()
	sub, c, cerr := d.readSubset(ctx, r.Restic)
	if errors.Is(cerr, resticx.ErrLocked) {
		// A lock left by a killed restic; we hold Steward's lock.
		if uerr := d.repos.UnlockStale(ctx, r, "locked"); uerr == nil {
			_, c, cerr = d.readSubset(ctx, r.Restic)
		}
	}
	res.Subset = sub
	h := repo.Health{Repository: name, Time: d.clock.Format(d.now()), By: "check", Result: repo.HealthOK,
		Detail: "restic check --read-data-subset " + sub.String() + ": no errors"}
	res.Result, res.Detail = c.Result, c.Actual
	switch {
	case cerr == nil:
	case repositoryFault(cerr):
		h.Result, h.Detail = repo.HealthFailing, "restic check --read-data-subset "+sub.String()+" failed: "+oneLine(cerr)
	default:
		// Steward could not run the check (interrupted, timed out): the
		// verdict stands as it was.
		d.rec.Record(ctx, "repository.check", "repository:"+name, audit.ResultFailed, map[string]string{"error": oneLine(cerr)})
		return res, cerr
	}
	res.Health = h
	if err := (repo.HealthBook{KV: d.store}).Put(ctx, h); err != nil {
		return res, err
	}
	result := audit.ResultOK
	if h.Failing() {
		result = audit.ResultFailed
	}
	d.rec.Record(ctx, "repository.check", "repository:"+name, result, map[string]string{"read_data_subset": sub.String(), "health": h.Result})
	if h.Failing() {
		return res, fmt.Errorf("%w: repository %q: %s", errs.ErrVerificationFailed, name, h.Detail)
	}
	return res, nil
}
