package repo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"steward/internal/audit"
	"steward/internal/keys"
	"steward/internal/resticx"
)

// Init creates repository name: a random 256-bit password, sealed by the
// master key into the state dir (0600), then `restic init`. An S3
// repository passes the residency check first. A repository that is a
// replica of an initialized primary it can reach directly gets the
// primary's chunker parameters, so copies deduplicate. ErrAlreadyInitialized
// when it works already.
func (o *Opener) Init(ctx context.Context, name string) (err error) {
	r, err := o.Resolve(name, false)
	if err != nil {
		return err
	}
	target := "repository:" + name
	o.audit.Record(ctx, "repository.init", target, audit.ResultStarted, nil)
	defer func() {
		if err != nil {
			o.audit.Record(ctx, "repository.init", target, audit.ResultFailed, map[string]string{"error": oneLine(err)})
		}
	}()
	if err := o.CheckResidency(ctx, r); err != nil {
		return err
	}
	unlock, err := o.Lock(ctx, []string{name})
	if err != nil {
		return err
	}
	defer unlock()

	path := o.SealedPasswordPath(name)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	created := false
	pw, err := o.Password(name)
	switch {
	case errors.Is(err, ErrNotInitialized):
		if err := o.ExplainMissingPassword(ctx, r, err); errors.Is(err, ErrPasswordLost) {
			return err
		}
		pw = keys.RandomSecret(32)
		if err := o.writeSealed(name, pw); err != nil {
			return err
		}
		created = true
	case err != nil:
		return err
	default:
		// A password exists: the repository may exist already, or an
		// earlier init failed after sealing it.
		r.Restic.Password = pw
		if _, err := o.restic.Run(ctx, r.Restic, resticx.Call{Args: []string{"cat", "config"}, Stdout: io.Discard, Timeout: o.ProbeTimeout()}); err == nil {
			return fmt.Errorf("repository %q: %w", name, ErrAlreadyInitialized)
		} else if !errors.Is(err, resticx.ErrRepoNotFound) {
			return fmt.Errorf("repository %q: %w", name, err)
		}
	}
	r.Restic.Password = pw
	call := resticx.Call{Args: []string{"init"}, Timeout: o.ProbeTimeout() * 4}
	if from := o.chunkerSource(ctx, name, r); from != nil {
		call.Args = append(call.Args, "--copy-chunker-params")
		call.From = from.Restic
	}
	if err := o.WithRetry(ctx, r, func() error { _, err := o.restic.Run(ctx, r.Restic, call); return err }); err != nil {
		if created {
			_ = keys.Destroy(path) // nothing was encrypted with it
		}
		return fmt.Errorf("repository %q: %w", name, err)
	}
	o.audit.Record(ctx, "repository.init", target, audit.ResultOK, map[string]string{"kind": r.Kind(), "residency": r.Residency.Answer})
	return nil
}

// chunkerSource finds an initialized primary that name replicates and that
// restic can open in the same call (see NeedsRelay).
func (o *Opener) chunkerSource(ctx context.Context, name string, r *Repo) *Repo {
	for _, j := range o.cfg.Jobs {
		if !slices.Contains(j.Replicas, name) {
			continue
		}
		p, err := o.Resolve(j.Repository, true)
		if err != nil || NeedsRelay(p, r) {
			continue
		}
		if p.S3 != nil {
			if err := o.CheckResidency(ctx, p); err != nil {
				continue
			}
		}
		return p
	}
	return nil
}

// NeedsRelay reports whether one `restic copy` cannot open both
// repositories: restic gives the source and the destination repository the
// same backend environment (one AWS_ACCESS_KEY_ID, one
// AWS_SECRET_ACCESS_KEY, one AWS_DEFAULT_REGION), so two S3 repositories
// with different keys or regions cannot be reached by one process.
func NeedsRelay(a, b *Repo) bool {
	if a.S3 == nil || b.S3 == nil {
		return false
	}
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"} {
		if !bytes.Equal(a.Restic.Env[k].Reveal(), b.Restic.Env[k].Reveal()) {
			return true
		}
	}
	return false
}

// Unlock removes stale restic locks from repository name (`restic
// unlock`, which keeps the locks of live processes), holding Steward's
// lock on it, and audits it.
func (o *Opener) Unlock(ctx context.Context, name string) error {
	r, err := o.Resolve(name, true)
	if err != nil {
		return err
	}
	if err := o.CheckResidency(ctx, r); err != nil {
		return err
	}
	release, err := o.Lock(ctx, []string{name})
	if err != nil {
		return err
	}
	defer release()
	return o.UnlockStale(ctx, r, "operator")
}

// UnlockStale runs `restic unlock` on r and audits it with reason. The
// caller holds Steward's lock on r.
func (o *Opener) UnlockStale(ctx context.Context, r *Repo, reason string) error {
	err := o.restic.Unlock(ctx, r.Restic)
	res := audit.ResultOK
	details := map[string]string{"reason": reason}
	if err != nil {
		res = audit.ResultFailed
		details["error"] = oneLine(err)
	}
	o.audit.Record(ctx, "repository.unlock", "repository:"+r.Name(), res, details)
	if err != nil {
		return fmt.Errorf("repository %q: remove stale locks: %w", r.Name(), err)
	}
	return nil
}

// HasResticLocks looks for restic lock files without running restic. In a
// local repository only files named by a lock id count: restic's local
// backend writes <id>-tmp-<n> and renames it, so a restic killed meanwhile
// leaves a file that restic neither honours as a lock nor removes.
func (o *Opener) HasResticLocks(ctx context.Context, r *Repo) (bool, error) {
	if r.S3 == nil {
		ents, err := os.ReadDir(filepath.Join(r.Config.Local.Path, "locks"))
		if errors.Is(err, fs.ErrNotExist) {
			return false, nil
		}
		return slices.ContainsFunc(ents, func(e fs.DirEntry) bool { return isResticID(e.Name()) }), err
	}
	return r.S3.HasObjects(ctx, r.prefix()+"locks/")
}

// isResticID reports whether name is a restic file id: 64 lower-case hex
// digits.
func isResticID(name string) bool {
	if len(name) != 64 {
		return false
	}
	for _, c := range name {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// HasSnapshot checks, without running restic, that r still holds snapshot
// id (a file snapshots/<id>, local or in the bucket).
func (o *Opener) HasSnapshot(ctx context.Context, r *Repo, id string) bool {
	if id == "" {
		return false
	}
	if r.S3 == nil {
		st, err := os.Stat(filepath.Join(r.Config.Local.Path, "snapshots", id))
		return err == nil && st.Mode().IsRegular()
	}
	ok, err := r.S3.HasObjects(ctx, r.prefix()+"snapshots/"+id)
	return err == nil && ok
}

// WithRetry runs fn; when restic finds the repository locked, stale locks
// are removed (the caller holds Steward's lock on it, so a lock left there
// is a dead process's or a foreign one's) and fn runs once more.
func (o *Opener) WithRetry(ctx context.Context, r *Repo, fn func() error) error {
	err := fn()
	if !errors.Is(err, resticx.ErrLocked) {
		return err
	}
	if uerr := o.UnlockStale(ctx, r, "locked"); uerr != nil {
		return errors.Join(err, uerr)
	}
	return fn()
}

// Snapshots lists r's snapshots carrying all of tags.
func (o *Opener) Snapshots(ctx context.Context, r *Repo, tags ...string) ([]resticx.Snapshot, error) {
	return o.restic.Snapshots(ctx, r.Restic, tags...)
}
