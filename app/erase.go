package app

import (
	"context"
	"errors"
	"time"

	"steward/certs"
	"steward/erase"
	"steward/recovery"
)

// Eraser plans, approves and executes contract-end erasure.
func (a *App) Eraser(ctx context.Context) (*erase.Eraser, error) {
	repos, err := a.Repos(ctx)
	if err != nil {
		return nil, err
	}
	// Each step's end is alerted (req 12). A notify secret that cannot be
	// resolved (sealed, after the master-key step) turns the alerts off,
	// never the erasure.
	var stepDone func(ctx context.Context, planID, step, result string, err error)
	if n, err := a.Notifier(); err != nil {
		a.Log.Warn("erase step alerts are off", "component", "erase", "error", err)
	} else {
		stepDone = func(ctx context.Context, planID, step, result string, err error) {
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), eraseAlertTimeout)
			defer cancel()
			if serr := n.Send(sctx, EraseStepAlert(planID, step, result, err)); serr != nil {
				a.Log.Warn("erase step alert not sent", "component", "erase", "step", step, "error", serr)
			}
		}
	}
	return erase.New(erase.Deps{Config: a.Config, Store: a.Catalog, Manifests: a.Catalog.CountManifests, PurgeManifests: a.Catalog.PurgeManifests,
		Sign: a.signForErase, Repos: repos, Audit: a.Audit, Clock: a.Clock, Log: a.Log, RecoveryKits: a.recoveryKits, StepDone: stepDone}), nil
}

// eraseAlertTimeout bounds each erase step's alert, retries included: an
// unreachable receiver must not hold up the erasure.
const eraseAlertTimeout = 10 * time.Second

// recoveryKits is the contract's last recovery kit, as the deletion
// certificate lists it (none: nil).
func (a *App) recoveryKits(ctx context.Context) ([]certs.RecoveryKit, error) {
	rec, err := recovery.LastKit(ctx, a.Catalog)
	if errors.Is(err, recovery.ErrNoKit) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	k := certs.RecoveryKit{Created: rec.Created, SHA256: rec.SHA256, Location: rec.KitLocation, Recipients: rec.Recipients, EscrowKeys: map[string]string{}}
	for _, r := range rec.Repositories {
		k.EscrowKeys[r.Name] = r.KeyID
	}
	return []certs.RecoveryKit{k}, nil
}

// signForErase renders, signs and files erase's PDF (the deletion
// certificate, which only erase renders).
func (a *App) signForErase(ctx context.Context, r erase.SignRequest) (string, string, error) {
	w, err := a.WriteSignedReport(ctx, SignedReport{File: r.File, Reason: r.Reason, Action: r.Action, Target: r.Target, Details: r.Details, Render: r.Render,
		Filed: r.Filed, AdoptOnly: r.Filed != ""})
	return w.Path, w.SHA256, err
}

// checkNotFrozen refuses backups, drills and restores once an erase plan
// has started: the contract's data is being erased (req 23).
func (a *App) checkNotFrozen(ctx context.Context, what string) error {
	return erase.CheckNotFrozen(ctx, a.Catalog, what)
}
