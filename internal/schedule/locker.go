package schedule

import (
	"context"
	"fmt"
	"time"

	"github.com/go-co-op/gocron/v2"

	"steward/internal/catalog"
)

// SessionLocker takes a session lock that holds across hosts (a
// PostgreSQL catalog's advisory lock): nil and no error when another
// session holds it.
type SessionLocker interface {
	TryLock(ctx context.Context, kind catalog.LockKind, name string) (*catalog.SessionLock, error)
}

// CatalogLocker is the Locker of daemons that share a PostgreSQL catalog
// (req 18). A run is made by the daemon that (1) takes the job's session
// lock, so no two daemons run one job at once, and (2) claims the run
// (job, due) in the catalog, so a run one daemon made is never made again
// by another, however late its own schedule fires (clock skew) or
// whenever it starts (missed runs). A daemon that dies drops its lock with
// its connection; the others go on at the next due time.
type CatalogLocker struct {
	Locks  SessionLocker
	Claims catalog.ScheduleStore
	// Daemon names this daemon in claims (host and pid).
	Daemon string
	// Now stamps claims (RFC 3339 text).
	Now func() string
}

// Lock implements gocron.Locker for keys made by RunKey. Its error says
// why this daemon does not make the run.
func (c CatalogLocker) Lock(ctx context.Context, key string) (gocron.Lock, error) {
	job, due, ok := SplitRunKey(key)
	if !ok {
		return nil, fmt.Errorf("schedule: lock key %q is not job@due", key)
	}
	l, err := c.Locks.TryLock(ctx, catalog.LockJob, job)
	if err != nil {
		return nil, err
	}
	if l == nil {
		return nil, fmt.Errorf("%w: job %s is running on another daemon", ErrRunElsewhere, job)
	}
	won, err := c.Claims.ClaimRun(ctx, catalog.ClaimRow{Job: job, Due: due, Daemon: c.Daemon, Claimed: c.Now()})
	if err == nil && !won {
		err = fmt.Errorf("%w: the run of %s due %s was made by another daemon", ErrRunElsewhere, job, due)
	}
	if err != nil {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_ = l.Unlock(uctx)
		return nil, err
	}
	return l, nil
}

var _ gocron.Locker = CatalogLocker{}
