package catalog

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Lock kinds: what a session lock (Postgres.TryLock) is taken on.
type LockKind int32

// The kinds of session lock.
const (
	// LockJob is a scheduled job's run (held while it runs).
	LockJob LockKind = lockJob
	// LockRepository is a repository (held while it is backed up,
	// checked, drilled or erased), across every host sharing the catalog.
	LockRepository LockKind = lockRepository
)

// lockPing is how often a held session lock checks its connection.
const lockPing = 2 * time.Second

// SessionLock is a PostgreSQL session-level advisory lock, held on a
// connection of its own taken from the pool. PostgreSQL releases it when
// that connection ends, so a daemon that dies (or is cut off) never keeps
// it: Lost is closed as soon as the connection is found gone, and the
// holder must stop acting under the lock.
type SessionLock struct {
	mu   sync.Mutex // guards conn (one query at a time)
	conn *pgxpool.Conn
	kind LockKind
	name string
	lost chan struct{}
	stop chan struct{}
	done sync.Once
	wg   sync.WaitGroup
}

// TryLock takes the session lock (kind, name) if no session holds it, and
// returns nil and no error when one does. Two names may share a lock
// (PostgreSQL's two-key advisory locks key on hashtext(name)): that only
// makes two holders wait on each other.
func (p *Postgres) TryLock(ctx context.Context, kind LockKind, name string) (*SessionLock, error) {
	conn, err := p.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("catalog lock %s: %w", name, err)
	}
	var got bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1, hashtext($2))`, int32(kind), name).Scan(&got); err != nil {
		conn.Release()
		return nil, fmt.Errorf("catalog lock %s: %w", name, err)
	}
	if !got {
		conn.Release()
		return nil, nil
	}
	l := &SessionLock{conn: conn, kind: kind, name: name, lost: make(chan struct{}), stop: make(chan struct{})}
	l.wg.Add(1)
	go l.watch()
	return l, nil
}

// watch pings the lock's connection until Unlock, and closes lost when a
// ping fails: the connection, and with it the lock, is gone.
func (l *SessionLock) watch() {
	defer l.wg.Done()
	t := time.NewTicker(lockPing)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		l.mu.Lock()
		ctx, cancel := context.WithTimeout(context.Background(), lockPing)
		err := l.conn.Ping(ctx)
		cancel()
		l.mu.Unlock()
		if err != nil {
			close(l.lost)
			return
		}
	}
}

// Lost is closed when the lock's connection was found gone: the lock is
// no longer held.
func (l *SessionLock) Lost() <-chan struct{} { return l.lost }

// Unlock releases the lock and returns its connection to the pool (or
// closes it, if it was lost). Calling it again does nothing.
func (l *SessionLock) Unlock(ctx context.Context) error {
	var err error
	l.done.Do(func() {
		close(l.stop)
		l.wg.Wait()
		l.mu.Lock()
		defer l.mu.Unlock()
		select {
		case <-l.lost:
			// The server ended the session, and the lock with it.
			_ = l.conn.Conn().Close(context.WithoutCancel(ctx))
		default:
			var ok bool
			if qerr := l.conn.QueryRow(ctx, `SELECT pg_advisory_unlock($1, hashtext($2))`, int32(l.kind), l.name).Scan(&ok); qerr != nil {
				// Closing the session releases the lock too.
				_ = l.conn.Conn().Close(context.WithoutCancel(ctx))
				err = fmt.Errorf("catalog unlock %s: %w", l.name, qerr)
			}
		}
		l.conn.Release()
	})
	return err
}
