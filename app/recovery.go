package app

import (
	"context"
	"encoding/json"
	"errors"
	"strings"

	"steward/internal/audit"
	"steward/internal/catalog"
	"steward/internal/errs"
	"steward/internal/keys"
	"steward/internal/repo"
	"steward/recovery"
)

// recoveryMark is the catalog key a rebuild leaves: a catalog that holds
// snapshots because a rebuild put them there may be rebuilt into again
// (to add a repository that did not answer the first time).
const recoveryMark = "recovery.rebuilt"

// ErrNotNew means the catalog holds runs or snapshots Steward made here:
// it is a live host's, not a new one's.
var ErrNotNew = errors.New("the catalog already holds backups")

// Rebuild rebuilds this state dir's catalog from the repositories whose
// passwords are given (see recovery.Rebuild), then seals each password
// that opened its repository under this state dir's master key, as `repo
// init` does, so that the repositories open normally afterwards. origin
// says where the passwords came from, for the audit log. It refuses a
// catalog that holds runs or snapshots it did not rebuild. Passwords are
// never written anywhere but sealed.
func (a *App) Rebuild(ctx context.Context, passwords map[string]keys.Secret, origin string) (*recovery.RebuildResult, error) {
	for name := range passwords {
		if _, ok := a.Config.Repository(name); !ok {
			return nil, errs.Usage("no repository named %q in the config (repositories: %s)", name, strings.Join(a.repositoryNames(), ", "))
		}
	}
	if err := a.checkNewCatalog(ctx); err != nil {
		return nil, err
	}
	repos, err := a.Repos(ctx)
	if err != nil {
		return nil, err
	}
	res, rerr := recovery.Rebuild(ctx, recovery.Deps{Repos: repos, Store: a.Catalog, Audit: a.Audit, Clock: a.Clock, Log: a.Log},
		recovery.Options{Passwords: passwords, Origin: origin})
	if res == nil {
		return nil, rerr
	}
	var sealed []string
	var serrs []error
	for _, name := range res.ReadRepositories() {
		wrote, err := repos.SealPassword(name, passwords[name])
		if err != nil {
			serrs = append(serrs, err)
			continue
		}
		if wrote {
			sealed = append(sealed, name)
		}
	}
	mark, _ := json.Marshal(map[string]string{"at": a.Clock.Format(a.Clock.Now()), "origin": origin})
	if err := a.Catalog.Put(ctx, recoveryMark, mark); err != nil {
		serrs = append(serrs, err)
	}
	result := audit.ResultOK
	details := map[string]string{"sealed": strings.Join(sealed, ","), "origin": origin}
	if len(serrs) > 0 {
		result, details["error"] = audit.ResultFailed, errors.Join(serrs...).Error()
	}
	if err := a.Record(ctx, "recovery.seal-passwords", "state:keys", result, details); err != nil {
		serrs = append(serrs, err)
	}
	return res, errors.Join(append([]error{rerr}, serrs...)...)
}

// checkNewCatalog refuses a catalog with runs or snapshots, unless an
// earlier rebuild put them there.
func (a *App) checkNewCatalog(ctx context.Context) error {
	if _, err := a.Catalog.Get(ctx, recoveryMark); err == nil {
		return nil
	} else if !errors.Is(err, catalog.ErrNotFound) {
		return err
	}
	for _, j := range a.Config.Jobs {
		snaps, err := a.Catalog.JobSnapshots(ctx, j.Name)
		if err != nil {
			return err
		}
		runs, err := a.Catalog.JobRuns(ctx, j.Name, 1)
		if err != nil {
			return err
		}
		if len(snaps) > 0 || len(runs) > 0 {
			return errs.Usage("%w: state dir %s has runs or snapshots of job %q in its catalog, so it is not a new host's: recover into a new state dir (steward --state-dir DIR recover …)",
				ErrNotNew, a.State.Root(), j.Name)
		}
	}
	return nil
}

func (a *App) repositoryNames() []string {
	var names []string
	for _, r := range a.Config.Repositories {
		names = append(names, r.Name)
	}
	return names
}

// IsRebuildUsage reports rebuild errors that are the operator's to fix:
// an unknown repository, a state dir that is not new, a password that
// differs from the one already sealed.
func IsRebuildUsage(err error) bool {
	return errors.Is(err, repo.ErrNoRepository) || errors.Is(err, repo.ErrOtherPassword) || errors.Is(err, ErrNotNew) || errs.IsUsage(err)
}
