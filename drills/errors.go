package drills

import (
	"errors"
	"fmt"

	"steward/internal/errs"
)

var (
	// ErrDrillFailed means a drill ran and one of its steps or checks
	// failed; it wraps errs.ErrVerificationFailed (exit code 3).
	ErrDrillFailed = fmt.Errorf("restore drill failed: %w", errs.ErrVerificationFailed)
	// ErrNoScratch means the config lacks the scratch target a source's
	// kind needs (drills.scratch.postgres for PostgreSQL sources).
	ErrNoScratch = errors.New("no scratch target configured")
	// ErrNotFound means no drill has that id.
	ErrNotFound = errors.New("no such drill")
)
