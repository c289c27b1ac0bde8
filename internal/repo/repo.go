package repo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"steward/internal/audit"
	"steward/internal/config"
	"steward/internal/keys"
	"steward/internal/objstore"
	"steward/internal/resticx"
	"steward/internal/state"
)

// Deps is what an Opener needs.
type Deps struct {
	Config *config.Config
	// Keys unseals repository passwords (nil without a master key: only
	// operations that need no password work).
	Keys   *keys.Keyring
	Restic *resticx.Runner
	// Audit receives repository.init and repository.unlock records.
	Audit audit.Appender
	Log   *slog.Logger
	// LockWait is how long Lock waits for a repository another Steward
	// run holds; zero refuses at once with ErrBusy.
	LockWait time.Duration
	// ProbeTimeout bounds each probe (region, repository config); default
	// 20s.
	ProbeTimeout time.Duration
	// Shared, when set, also locks repositories across hosts (daemons
	// sharing a PostgreSQL catalog, req 18): the file lock holds on one
	// host only.
	Shared SharedLocker
}

// SharedLocker takes a repository's lock across hosts: nil release and
// no error when another host holds it.
type SharedLocker interface {
	TryLockRepository(ctx context.Context, name string) (release func(), err error)
}

// Opener opens the configured repositories. It is safe for concurrent
// use.
type Opener struct {
	cfg      *config.Config
	dir      state.Dir
	keys     *keys.Keyring
	restic   *resticx.Runner
	audit    *audit.Recorder
	lockWait time.Duration
	probe    time.Duration
	shared   SharedLocker
}

// New returns an Opener over d.
func New(d Deps) *Opener {
	log := d.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Opener{cfg: d.Config, dir: state.Dir(d.Config.StateDir), keys: d.Keys, restic: d.Restic,
		audit: audit.NewRecorder(d.Audit, log.With("component", "repo")), lockWait: d.LockWait, probe: d.ProbeTimeout, shared: d.Shared}
}

// Config is the config the Opener serves.
func (o *Opener) Config() *config.Config { return o.cfg }

// Restic is the restic runner.
func (o *Opener) Restic() *resticx.Runner { return o.restic }

// ProbeTimeout bounds one probe.
func (o *Opener) ProbeTimeout() time.Duration {
	if o.probe > 0 {
		return o.probe
	}
	return 20 * time.Second
}

// Repo is one configured repository, resolved: restic's view (location,
// password, backend environment) and, for S3, a client for probes.
type Repo struct {
	Config *config.Repository
	Restic *resticx.Repository
	// S3 is nil for a local repository.
	S3     *objstore.Client
	Target objstore.Target
	// Residency is the answer of the residency check (set by
	// CheckResidency).
	Residency Residency
}

// Name is the repository's name in the config.
func (r *Repo) Name() string { return r.Config.Name }

// Kind is "local" or "s3".
func (r *Repo) Kind() string { return r.Config.Kind() }

// prefix is the S3 key prefix of the repository's objects ("" or "p/").
func (r *Repo) prefix() string {
	p := strings.Trim(r.Target.Prefix, "/")
	if p != "" {
		p += "/"
	}
	return p
}

// Resolve resolves a repository's location and credentials without
// touching the network. With password, the sealed password is unsealed
// (ErrNotInitialized if absent).
func (o *Opener) Resolve(name string, password bool) (*Repo, error) {
	cfg, ok := o.cfg.Repository(name)
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrNoRepository, name)
	}
	r := &Repo{Config: cfg, Restic: &resticx.Repository{Name: name}}
	if cfg.S3 != nil {
		t, err := o.S3Target(Field(o.cfg, "repositories", name)+".s3", cfg.S3)
		if err != nil {
			return nil, err
		}
		if r.S3, err = objstore.New(t); err != nil {
			return nil, err
		}
		r.Target = t
		loc := "s3:" + t.URL() + "/" + t.Bucket
		if t.Prefix != "" {
			loc += "/" + strings.Trim(t.Prefix, "/")
		}
		r.Restic.Location = loc
		r.Restic.Env = map[string]keys.Secret{"AWS_ACCESS_KEY_ID": t.AccessKey, "AWS_SECRET_ACCESS_KEY": t.SecretKey}
		if t.Region != "" {
			r.Restic.Env["AWS_DEFAULT_REGION"] = keys.Secret(t.Region)
		}
	} else {
		r.Restic.Location = cfg.Local.Path
	}
	if password {
		pw, err := o.Password(name)
		if err != nil {
			return nil, err
		}
		r.Restic.Password = pw
	}
	return r, nil
}

// Open resolves a repository for restic with its unsealed password; an S3
// repository passes the residency check first (req 2) and gets the region
// its server reported; then the repository is probed (it exists and opens).
// The residency answer is in the returned Repo, also on a residency error.
func (o *Opener) Open(ctx context.Context, name string) (*Repo, error) {
	r, err := o.Resolve(name, true)
	if errors.Is(err, ErrNotInitialized) {
		if bare, rerr := o.Resolve(name, false); rerr == nil {
			err = o.ExplainMissingPassword(ctx, bare, err)
		}
	}
	if err != nil {
		return nil, err
	}
	if err := o.CheckResidency(ctx, r); err != nil {
		return r, err
	}
	if err := o.Probe(ctx, r); err != nil {
		return r, err
	}
	return r, nil
}

// ErrPasswordLost means a repository exists but the state dir holds no
// sealed password for it.
var ErrPasswordLost = errors.New("the repository exists but its sealed password is missing")

// ExplainMissingPassword turns a missing sealed password (err wraps
// ErrNotInitialized) into ErrPasswordLost when the repository itself
// exists: `repo init` would not help then.
func (o *Opener) ExplainMissingPassword(ctx context.Context, r *Repo, err error) error {
	if !errors.Is(err, ErrNotInitialized) || !o.exists(ctx, r) {
		return err
	}
	return fmt.Errorf("repository %q: %w (%s): restore it from the backup of the state dir (or open the repository with the recovery kit's escrow key); `steward repo init` does not replace the password of an existing repository",
		r.Name(), ErrPasswordLost, o.SealedPasswordPath(r.Name()))
}

// exists reports whether r's storage holds a restic repository (its
// config file), without a password.
func (o *Opener) exists(ctx context.Context, r *Repo) bool {
	if r.S3 == nil {
		_, err := os.Stat(filepath.Join(r.Config.Local.Path, "config"))
		return err == nil
	}
	ctx, cancel := context.WithTimeout(ctx, o.ProbeTimeout())
	defer cancel()
	ok, err := r.S3.HasObjects(ctx, r.prefix()+"config")
	return err == nil && ok
}

// SealedPasswordPath is where repository name's sealed password lives;
// erase destroys it (crypto-erase).
func (o *Opener) SealedPasswordPath(name string) string { return o.dir.SealedPassword(name) }

func passwordPurpose(repository string) string { return "repository:" + repository }

// Password unseals repository name's password.
func (o *Opener) Password(name string) (keys.Secret, error) {
	sealed, err := os.ReadFile(o.SealedPasswordPath(name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("repository %q: %w: run `steward repo init %s`", name, ErrNotInitialized, name)
	}
	if err != nil {
		return nil, fmt.Errorf("repository %q: read sealed password: %w", name, err)
	}
	if o.keys == nil {
		return nil, fmt.Errorf("repository %q: %w", name, keys.ErrNoMasterKey)
	}
	pw, err := o.keys.Unseal(passwordPurpose(name), string(bytes.TrimSpace(sealed)))
	if err != nil {
		return nil, fmt.Errorf("repository %q: sealed password: %w", name, err)
	}
	return pw, nil
}

// Field is a config path for messages, e.g. repositories[1] for "osaka"
// (list is "repositories" or "sources").
func Field(cfg *config.Config, list, name string) string {
	switch list {
	case "repositories":
		for i := range cfg.Repositories {
			if cfg.Repositories[i].Name == name {
				return fmt.Sprintf("repositories[%d]", i)
			}
		}
	case "sources":
		for i := range cfg.Sources {
			if cfg.Sources[i].Name == name {
				return fmt.Sprintf("sources[%d]", i)
			}
		}
	}
	return list + "." + name
}

// S3Target resolves an S3 target's keys (field names the config path in
// errors, e.g. "drills.scratch.s3").
func (o *Opener) S3Target(field string, s *config.S3Target) (objstore.Target, error) {
	access, err := keys.Resolve(o.keys, field+".access_key", string(s.AccessKey))
	if err != nil {
		return objstore.Target{}, err
	}
	secret, err := keys.Resolve(o.keys, field+".secret_key", string(s.SecretKey))
	if err != nil {
		return objstore.Target{}, err
	}
	t, err := objstore.TargetFrom(s, access, secret)
	if err != nil {
		return objstore.Target{}, fmt.Errorf("%s.endpoint: %w", field, err)
	}
	return t, nil
}

// PostgresPassword resolves a PostgreSQL password reference (nil when none
// is configured); field names the block, e.g. "sources[1].postgres".
func (o *Opener) PostgresPassword(field string, p *config.PostgresSource) (keys.Secret, error) {
	if p.Password.IsZero() {
		return nil, nil
	}
	return keys.Resolve(o.keys, field+".password", string(p.Password))
}

// Probe checks that a repository exists and opens with its password.
func (o *Opener) Probe(ctx context.Context, r *Repo) error {
	if r.S3 == nil {
		if _, err := os.Stat(filepath.Join(r.Config.Local.Path, "config")); err != nil {
			return fmt.Errorf("repository %q: no restic repository at %s: %w: run `steward repo init %s`", r.Name(), r.Config.Local.Path, ErrNotInitialized, r.Name())
		}
		return nil
	}
	_, err := o.restic.Run(ctx, r.Restic, resticx.Call{Args: []string{"cat", "config"}, Stdout: io.Discard, Timeout: o.ProbeTimeout()})
	if errors.Is(err, resticx.ErrRepoNotFound) {
		return fmt.Errorf("repository %q: %w: run `steward repo init %s`", r.Name(), ErrNotInitialized, r.Name())
	}
	if err != nil {
		return fmt.Errorf("repository %q: %w", r.Name(), err)
	}
	return nil
}

// KeyFiles lists the restic key files of r (the ids under keys/): each
// opens the repository with its own password, so crypto-erase deletes
// every one of them. It reads the storage directly, without a password.
func (o *Opener) KeyFiles(ctx context.Context, r *Repo) ([]string, error) {
	if r.S3 == nil {
		ents, err := os.ReadDir(filepath.Join(r.Config.Local.Path, "keys"))
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("repository %q: list key files: %w", r.Name(), err)
		}
		var ids []string
		for _, e := range ents {
			if e.Type().IsRegular() {
				ids = append(ids, e.Name())
			}
		}
		return ids, nil
	}
	var ids []string
	c := r.S3.WithBucket(r.Target.Bucket, r.prefix()+"keys/")
	err := c.List(ctx, func(obj objstore.Object) error {
		ids = append(ids, strings.TrimPrefix(obj.Key, r.prefix()+"keys/"))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("repository %q: list key files: %w", r.Name(), err)
	}
	slices.Sort(ids)
	return ids, nil
}

// Secret resolves a secret reference of the config (field names it in
// errors), unsealing sealed values with the master key.
func (o *Opener) Secret(field string, ref config.SecretRef) (keys.Secret, error) {
	return keys.Resolve(o.keys, field, string(ref))
}
