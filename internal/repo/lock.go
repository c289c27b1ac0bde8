package repo

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Lock takes the file lock of every named repository, in name order (so
// two runs never deadlock), waiting at most Deps.LockWait for one that is
// held, and with Deps.Shared its lock across hosts too. The locks go away
// with the process (the shared ones with its catalog connection), so a
// killed Steward never leaves one behind. The returned function releases
// them.
func (o *Opener) Lock(ctx context.Context, names []string) (func(), error) {
	names = slices.Clone(names)
	slices.Sort(names)
	names = slices.Compact(names)
	if err := os.MkdirAll(o.dir.Locks(), 0o700); err != nil {
		return nil, err
	}
	var held []*os.File
	var shared []func()
	release := func() {
		for _, r := range shared {
			r()
		}
		for _, f := range held {
			_ = unix.Flock(int(f.Fd()), unix.LOCK_UN)
			f.Close()
		}
	}
	for _, n := range names {
		f, err := o.lockOne(ctx, n)
		if err != nil {
			release()
			return nil, err
		}
		held = append(held, f)
		if o.shared == nil {
			continue
		}
		r, err := o.lockShared(ctx, n)
		if err != nil {
			release()
			return nil, err
		}
		shared = append(shared, r)
	}
	return release, nil
}

// lockShared takes name's lock across hosts, waiting as lockOne does.
func (o *Opener) lockShared(ctx context.Context, name string) (func(), error) {
	deadline := time.Now().Add(o.lockWait)
	for {
		r, err := o.shared.TryLockRepository(ctx, name)
		if err != nil {
			return nil, fmt.Errorf("repository %q: lock across hosts: %w", name, err)
		}
		if r != nil {
			return r, nil
		}
		if !time.Now().Before(deadline) {
			return nil, fmt.Errorf("repository %q: %w (on another host sharing the catalog): try again when it has finished", name, ErrBusy)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (o *Opener) lockOne(ctx context.Context, name string) (*os.File, error) {
	path := o.dir.RepositoryLock(name)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("repository %q: lock: %w", name, err)
	}
	deadline := time.Now().Add(o.lockWait)
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("repository %q: lock %s: %w", name, path, err)
		}
		if !time.Now().Before(deadline) {
			holder, _ := os.ReadFile(path)
			f.Close()
			who := ""
			if pid, err := strconv.Atoi(strings.TrimSpace(string(holder))); err == nil {
				who = fmt.Sprintf(" (pid %d)", pid)
			}
			return nil, fmt.Errorf("repository %q: %w%s: try again when it has finished", name, ErrBusy, who)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return f, nil
}
