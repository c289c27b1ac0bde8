package backup

import (
	"errors"

	"steward/internal/config"
	"steward/internal/repo"
)

var (
	// ErrNoJob means the config has no job of that name.
	ErrNoJob = config.ErrNoJob
	// ErrNoRepository means the config has no repository of that name.
	ErrNoRepository = repo.ErrNoRepository
	// ErrResidency means a storage target is outside
	// residency.allowed_regions (req 2); nothing was written.
	ErrResidency = repo.ErrResidency
	// ErrBusy means another Steward run holds the repository.
	ErrBusy = repo.ErrBusy
	// ErrNotInitialized means the repository has no sealed password yet.
	ErrNotInitialized = repo.ErrNotInitialized
	// ErrAlreadyInitialized means repo init found a working repository.
	ErrAlreadyInitialized = repo.ErrAlreadyInitialized
	// ErrSourceFailed wraps each source that failed in a run.
	ErrSourceFailed = errors.New("backup of a source failed")
	// ErrHookFailed means one of the job's hooks failed; a failed before
	// hook means nothing was backed up.
	ErrHookFailed = errors.New("hook failed")
	// ErrReplicaFailed wraps each replica copy that failed in a run.
	ErrReplicaFailed = errors.New("copy to a replica failed")
	// ErrRepositoryFailing wraps each of the job's repositories whose last
	// check or drill failed.
	ErrRepositoryFailing = errors.New("repository failed its last check or drill")
)
