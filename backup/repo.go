package backup

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"steward/internal/audit"
	"steward/internal/config"
	"steward/internal/keys"
	"steward/internal/objstore"
	"steward/internal/resticx"
)

// SealedPasswordPath is where a repository's sealed password lives; erase
// destroys it (crypto-erase).
func SealedPasswordPath(stateDir, repository string) string {
	return filepath.Join(stateDir, "keys", "repositories", repository+".sealed")
}

func passwordPurpose(repository string) string { return "repository:" + repository }

// repo is one configured repository, resolved: restic's view (location,
// password, backend environment) and, for S3, a client for probes.
type repo struct {
	cfg    *config.Repository
	restic *resticx.Repository
	s3     *objstore.Client // nil for a local repository
	target objstore.Target
	// residency is the answer of the residency check (set by check).
	residency Residency
}

func (r *repo) name() string { return r.cfg.Name }

// openRepo resolves a repository's location and credentials. With
// password, the sealed password is unsealed (ErrNotInitialized if absent).
func (e *Engine) openRepo(name string, password bool) (*repo, error) {
	cfg, ok := e.cfg.Repository(name)
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrNoRepository, name)
	}
	r := &repo{cfg: cfg, restic: &resticx.Repository{Name: name}}
	if cfg.S3 != nil {
		p := e.field("repositories", name) + ".s3"
		t, err := e.s3Target(p, cfg.S3)
		if err != nil {
			return nil, err
		}
		if r.s3, err = objstore.New(t); err != nil {
			return nil, err
		}
		r.target = t
		loc := "s3:" + t.URL() + "/" + t.Bucket
		if t.Prefix != "" {
			loc += "/" + strings.Trim(t.Prefix, "/")
		}
		r.restic.Location = loc
		r.restic.Env = map[string]keys.Secret{"AWS_ACCESS_KEY_ID": t.AccessKey, "AWS_SECRET_ACCESS_KEY": t.SecretKey}
		if t.Region != "" {
			r.restic.Env["AWS_DEFAULT_REGION"] = keys.Secret(t.Region)
		}
	} else {
		r.restic.Location = cfg.Local.Path
	}
	if password {
		pw, err := e.repoPassword(name)
		if err != nil {
			return nil, err
		}
		r.restic.Password = pw
	}
	return r, nil
}

func (e *Engine) repoPassword(name string) (keys.Secret, error) {
	sealed, err := os.ReadFile(SealedPasswordPath(e.cfg.StateDir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("repository %q: %w: run `steward repo init %s`", name, ErrNotInitialized, name)
	}
	if err != nil {
		return nil, fmt.Errorf("repository %q: read sealed password: %w", name, err)
	}
	if e.keys == nil {
		return nil, fmt.Errorf("repository %q: %w", name, keys.ErrNoMasterKey)
	}
	pw, err := e.keys.Unseal(passwordPurpose(name), string(bytes.TrimSpace(sealed)))
	if err != nil {
		return nil, fmt.Errorf("repository %q: sealed password: %w", name, err)
	}
	return pw, nil
}

// field is a config path for messages, e.g. repositories[1] for "osaka".
func (e *Engine) field(list, name string) string {
	switch list {
	case "repositories":
		for i := range e.cfg.Repositories {
			if e.cfg.Repositories[i].Name == name {
				return fmt.Sprintf("repositories[%d]", i)
			}
		}
	case "sources":
		for i := range e.cfg.Sources {
			if e.cfg.Sources[i].Name == name {
				return fmt.Sprintf("sources[%d]", i)
			}
		}
	}
	return list + "." + name
}

func (e *Engine) s3Target(field string, s *config.S3Target) (objstore.Target, error) {
	access, err := keys.Resolve(e.keys, field+".access_key", string(s.AccessKey))
	if err != nil {
		return objstore.Target{}, err
	}
	secret, err := keys.Resolve(e.keys, field+".secret_key", string(s.SecretKey))
	if err != nil {
		return objstore.Target{}, err
	}
	t, err := objstore.TargetFrom(s, access, secret)
	if err != nil {
		return objstore.Target{}, fmt.Errorf("%s.endpoint: %w", field, err)
	}
	return t, nil
}

// InitRepository creates repository name: a random 256-bit password,
// sealed by the master key into <state_dir>/keys/repositories/<name>.sealed
// (0600), then `restic init`. An S3 repository passes the residency check
// first. A repository that is a replica of an initialized primary it can
// reach directly gets the primary's chunker parameters, so copies
// deduplicate.
func (e *Engine) InitRepository(ctx context.Context, name string) (err error) {
	r, err := e.openRepo(name, false)
	if err != nil {
		return err
	}
	target := "repository:" + name
	e.audit(ctx, "repository.init", target, audit.ResultStarted, nil)
	defer func() {
		if err != nil {
			e.audit(ctx, "repository.init", target, audit.ResultFailed, map[string]string{"error": errText(err)})
		}
	}()
	if err := e.checkRepoResidency(ctx, r); err != nil {
		return err
	}
	unlock, err := e.lockRepos(ctx, []string{name})
	if err != nil {
		return err
	}
	defer unlock()

	path := SealedPasswordPath(e.cfg.StateDir, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	created := false
	pw, err := e.repoPassword(name)
	switch {
	case errors.Is(err, ErrNotInitialized):
		pw = keys.RandomSecret(32)
		if err := keys.WriteFileExclusive(path, []byte(e.keys.Seal(passwordPurpose(name), pw.Reveal())+"\n"), 0o600); err != nil {
			return fmt.Errorf("repository %q: store sealed password: %w", name, err)
		}
		created = true
	case err != nil:
		return err
	default:
		// A password exists: the repository may exist already, or an
		// earlier init failed after sealing it.
		r.restic.Password = pw
		if _, err := e.restic.Run(ctx, r.restic, resticx.Call{Args: []string{"cat", "config"}, Stdout: discard{}, Timeout: e.probeTimeout()}); err == nil {
			return fmt.Errorf("repository %q: %w", name, ErrAlreadyInitialized)
		} else if !errors.Is(err, resticx.ErrRepoNotFound) {
			return fmt.Errorf("repository %q: %w", name, err)
		}
	}
	r.restic.Password = pw
	call := resticx.Call{Args: []string{"init"}, Timeout: e.probeTimeout() * 4}
	if from := e.chunkerSource(name, r); from != nil {
		call.Args = append(call.Args, "--copy-chunker-params")
		call.From = from.restic
	}
	if err := e.withRetry(ctx, r, func() error { _, err := e.restic.Run(ctx, r.restic, call); return err }); err != nil {
		if created {
			_ = keys.Destroy(path) // nothing was encrypted with it
		}
		return fmt.Errorf("repository %q: %w", name, err)
	}
	e.audit(ctx, "repository.init", target, audit.ResultOK, map[string]string{"kind": r.cfg.Kind(), "residency": r.residency.Answer})
	return nil
}

// chunkerSource finds an initialized primary that name replicates and that
// restic can open in the same call (see needsRelay).
func (e *Engine) chunkerSource(name string, r *repo) *repo {
	for _, j := range e.cfg.Jobs {
		if !slices.Contains(j.Replicas, name) {
			continue
		}
		p, err := e.openRepo(j.Repository, true)
		if err != nil || needsRelay(p, r) {
			continue
		}
		if p.s3 != nil {
			if err := e.checkRepoResidency(context.Background(), p); err != nil {
				continue
			}
		}
		return p
	}
	return nil
}

// Unlock removes stale restic locks from a repository (`restic unlock`,
// which keeps the locks of live processes) and audits it.
func (e *Engine) Unlock(ctx context.Context, name string) error {
	r, err := e.openRepo(name, true)
	if err != nil {
		return err
	}
	if err := e.checkRepoResidency(ctx, r); err != nil {
		return err
	}
	release, err := e.lockRepos(ctx, []string{name})
	if err != nil {
		return err
	}
	defer release()
	return e.unlockStale(ctx, r, "operator")
}

// unlockStale runs `restic unlock` and audits it.
func (e *Engine) unlockStale(ctx context.Context, r *repo, reason string) error {
	err := e.restic.Unlock(ctx, r.restic)
	res := audit.ResultOK
	details := map[string]string{"reason": reason}
	if err != nil {
		res = audit.ResultFailed
		details["error"] = errText(err)
	}
	e.audit(ctx, "repository.unlock", "repository:"+r.name(), res, details)
	if err != nil {
		return fmt.Errorf("repository %q: remove stale locks: %w", r.name(), err)
	}
	return nil
}

// hasResticLocks looks for restic lock files without running restic.
func (e *Engine) hasResticLocks(ctx context.Context, r *repo) (bool, error) {
	if r.s3 == nil {
		ents, err := os.ReadDir(filepath.Join(r.cfg.Local.Path, "locks"))
		if errors.Is(err, fs.ErrNotExist) {
			return false, nil
		}
		return len(ents) > 0, err
	}
	prefix := strings.Trim(r.target.Prefix, "/")
	if prefix != "" {
		prefix += "/"
	}
	return r.s3.HasObjects(ctx, prefix+"locks/")
}

// withRetry runs fn; when restic finds the repository locked, stale
// locks are removed (we hold Steward's lock on it, so a lock left there is
// a dead process's or a foreign one's) and fn runs once more.
func (e *Engine) withRetry(ctx context.Context, r *repo, fn func() error) error {
	err := fn()
	if !errors.Is(err, resticx.ErrLocked) {
		return err
	}
	if uerr := e.unlockStale(ctx, r, "locked"); uerr != nil {
		return errors.Join(err, uerr)
	}
	return fn()
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
