package app

import (
	"context"

	"steward/erase"
)

// Eraser plans, approves and executes contract-end erasure.
func (a *App) Eraser(ctx context.Context) (*erase.Eraser, error) {
	repos, err := a.Repos(ctx)
	if err != nil {
		return nil, err
	}
	return erase.New(erase.Deps{Config: a.Config, Store: a.Catalog, Manifests: a.Catalog.CountManifests, Repos: repos,
		Audit: a.Audit, Clock: a.Clock, Log: a.Log}), nil
}

// checkNotFrozen refuses backups, drills and restores once an erase plan
// has started: the contract's data is being erased (req 23).
func (a *App) checkNotFrozen(ctx context.Context, what string) error {
	return erase.CheckNotFrozen(ctx, a.Catalog, what)
}
