package repo

import "errors"

var (
	// ErrNoRepository means the config has no repository of that name.
	ErrNoRepository = errors.New("no such repository")
	// ErrResidency means a storage target is outside
	// residency.allowed_regions (req 2); nothing was written.
	ErrResidency = errors.New("storage outside the allowed regions")
	// ErrBusy means another Steward run holds the repository.
	ErrBusy = errors.New("repository is in use by another Steward run")
	// ErrNotInitialized means the repository has no sealed password yet.
	ErrNotInitialized = errors.New("repository is not initialized")
	// ErrAlreadyInitialized means repo init found a working repository.
	ErrAlreadyInitialized = errors.New("repository is already initialized")
)
