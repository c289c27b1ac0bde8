package recovery

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"steward/internal/audit"
	"steward/internal/catalog"
	"steward/internal/clock"
	"steward/internal/config"
	"steward/internal/crash"
	"steward/internal/keys"
	"steward/internal/repo"
	"steward/internal/resticx"
)

// EscrowUser is the user name of every escrow key (restic key list shows
// it as EscrowUser@<contract id>): Rotate removes the keys so named.
const EscrowUser = "steward-escrow"

// escrowBytes is the escrow password's random bytes (256 bits).
const escrowBytes = 32

// KitDeps is what a Maker needs.
type KitDeps struct {
	Config *config.Config
	Repos  *repo.Opener
	// KV keeps the Record of the last kit.
	KV    catalog.KV
	Audit audit.Appender
	Clock *clock.Zoned
	Log   *slog.Logger
	// ResticVersion is the version of the restic that Repos runs.
	ResticVersion string
	// AuditHead, when set, gives the audit log's head, written into the
	// kit.
	AuditHead func(ctx context.Context) (seq int64, hash string, err error)
}

// Maker makes recovery kits.
type Maker struct {
	d     KitDeps
	audit *audit.Recorder
}

// NewMaker returns a Maker over d.
func NewMaker(d KitDeps) *Maker {
	log := d.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Maker{d: d, audit: audit.NewRecorder(d.Audit, log.With("component", "recovery"))}
}

// KitOptions say where the kit goes and whether older escrow keys go.
type KitOptions struct {
	// To is the kit's file: new (never overwritten), created 0600.
	To string
	// Rotate removes every other escrow key from the repositories once the
	// new kit is written, so older kits open nothing.
	Rotate bool
}

// Make adds a new escrow key to every configured repository, writes the
// kit to opts.To and records it (see the package doc). The name is
// checked before any key is made, and the kit is written beside it and
// linked into place, so a kill leaves no kit file; the escrow keys are
// pending in the catalog until the kit is written, and the next Make
// removes those of a Make that was killed. If a repository cannot be given
// a key, the keys already added are removed again and the file too. With
// opts.Rotate, an old escrow key that cannot be removed is an error
// returned with the Record: the new kit is written and recorded.
func (m *Maker) Make(ctx context.Context, opts KitOptions) (*Record, error) {
	cfg := m.d.Config
	if _, err := ParseRecipients(cfg.Recovery.Recipients); err != nil {
		return nil, err
	}
	if _, err := os.Lstat(opts.To); err == nil {
		return nil, fmt.Errorf("%s: %w", opts.To, ErrKitExists)
	}
	// Escrow keys a killed Make added: nobody holds their passwords.
	if err := m.dropPending(ctx); err != nil {
		return nil, err
	}
	// The kit is written to a partial file beside it, then linked to its
	// name (which fails if the name was taken meanwhile): a kill leaves
	// no file under the kit's name, and the next Make replaces the
	// partial one.
	part := opts.To + ".partial"
	f, err := os.OpenFile(part, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("kit file: %w", err)
	}
	abs, _ := filepath.Abs(opts.To)
	written := false
	defer func() {
		if !written {
			f.Close()
		}
		os.Remove(part)
	}()

	target := "kit:" + abs
	kit := &Kit{Schema: Schema, Contract: cfg.Contract.ID, Customer: cfg.Contract.Customer,
		Created: m.d.Clock.Format(m.d.Clock.Now()), ResticVersion: m.d.ResticVersion, Instructions: instructions}
	if m.d.AuditHead != nil {
		if seq, hash, err := m.d.AuditHead(ctx); err == nil {
			kit.AuditHead = &KitAuditHead{Seq: seq, Hash: hash}
		}
	}
	added, err := m.addEscrowKeys(ctx, kit)
	if err != nil {
		m.rollback(ctx, added)
		m.audit.Record(ctx, "recovery.kit", target, audit.ResultFailed, map[string]string{"error": err.Error()})
		return nil, err
	}
	crash.Point(crash.RecoveryEscrowAdded)
	sum, err := writeKit(f, kit, cfg.Recovery.Recipients)
	for i := range kit.Repositories {
		kit.Repositories[i].Password = "" // the only copy is the file's
	}
	if err == nil {
		if err = os.Link(part, opts.To); errors.Is(err, fs.ErrExist) {
			err = ErrKitExists
		}
	}
	if err != nil {
		m.rollback(ctx, added)
		m.audit.Record(ctx, "recovery.kit", target, audit.ResultFailed, map[string]string{"error": err.Error()})
		return nil, fmt.Errorf("%s: %w", opts.To, err)
	}
	written = true
	if err := m.putPending(ctx, nil); err != nil {
		m.d.logger().Error("forget the pending escrow keys", "err", err) // the next Make would remove the kit's keys
	}

	rec := &Record{Created: kit.Created, File: abs, SHA256: sum, Recipients: slices.Clone(cfg.Recovery.Recipients),
		KitLocation: cfg.Recovery.KitLocation, ResticVersion: kit.ResticVersion, Rotated: opts.Rotate}
	for _, r := range kit.Repositories {
		rec.Repositories = append(rec.Repositories, RecordRepository{Name: r.Name, Role: r.Role, Location: r.Location, KeyID: r.KeyID})
	}
	var rotateErr error
	if opts.Rotate {
		rotateErr = m.rotate(ctx, added, rec)
	}
	if err := m.put(ctx, rec); err != nil {
		return rec, errors.Join(fmt.Errorf("the kit %s was written, but the catalog did not record it: %w", abs, err), rotateErr)
	}
	details := map[string]string{"sha256": sum, "file": abs, "recipients": strings.Join(rec.Recipients, " "), "key_ids": rec.keyIDs(), "rotate": fmt.Sprint(opts.Rotate)}
	result := audit.ResultOK
	if rotateErr != nil {
		result, details["error"] = audit.ResultFailed, rotateErr.Error()
	}
	m.audit.Record(ctx, "recovery.kit", target, result, details)
	return rec, rotateErr
}

// escrowKey is one escrow key added during Make.
type escrowKey struct {
	r  *repo.Repo
	id string
}

// addEscrowKeys adds an escrow key to every configured repository and
// fills kit.Repositories; it returns the keys added so far, also on error.
func (m *Maker) addEscrowKeys(ctx context.Context, kit *Kit) ([]escrowKey, error) {
	cfg := m.d.Config
	restic := m.d.Repos.Restic()
	var added []escrowKey
	for _, rc := range cfg.Repositories {
		r, err := m.d.Repos.Open(ctx, rc.Name)
		if err != nil {
			return added, err
		}
		pw := keys.RandomSecret(escrowBytes)
		id, err := restic.AddKey(ctx, r.Restic, pw, EscrowUser, cfg.Contract.ID)
		if err != nil {
			pw.Wipe()
			m.audit.Record(ctx, "recovery.escrow_key.add", "repository:"+rc.Name, audit.ResultFailed, map[string]string{"error": err.Error()})
			return added, fmt.Errorf("repository %q: add the escrow key: %w", rc.Name, err)
		}
		added = append(added, escrowKey{r: r, id: id})
		pending := make([]pendingKey, len(added))
		for i, k := range added {
			pending[i] = pendingKey{Repository: k.r.Name(), KeyID: k.id}
		}
		if err := m.putPending(ctx, pending); err != nil {
			return added, err
		}
		m.audit.Record(ctx, "recovery.escrow_key.add", "repository:"+rc.Name, audit.ResultOK, map[string]string{"key_id": id})
		kr := KitRepository{Name: rc.Name, Role: role(cfg, rc.Name), Location: r.Restic.Location, KeyID: id, Password: string(pw.Reveal())}
		pw.Wipe()
		if rc.S3 != nil {
			t := r.Target
			region := t.Region
			if v, ok := r.Restic.Env["AWS_DEFAULT_REGION"]; ok {
				region = string(v.Reveal())
			}
			kr.S3 = &KitS3{Endpoint: t.URL(), Region: region, Bucket: t.Bucket, Prefix: strings.Trim(t.Prefix, "/"), Insecure: !t.Secure,
				AccessKeyID: string(t.AccessKey.Reveal()), SecretAccessKey: string(t.SecretKey.Reveal())}
		}
		kit.Repositories = append(kit.Repositories, kr)
	}
	return added, nil
}

// role is RolePrimary if a job backs up into repository name, else
// RoleReplica.
func role(cfg *config.Config, name string) string {
	for _, j := range cfg.Jobs {
		if j.Repository == name {
			return RolePrimary
		}
	}
	return RoleReplica
}

// writeKit encrypts kit into f, syncs and closes it, and returns the
// file's SHA-256.
func writeKit(f *os.File, kit *Kit, recipients []string) (string, error) {
	h := sha256.New()
	if err := kit.Encrypt(io.MultiWriter(f, h), recipients); err != nil {
		return "", err
	}
	if err := f.Sync(); err != nil {
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// rollback removes the escrow keys of a kit that was not written: their
// passwords are gone.
func (m *Maker) rollback(ctx context.Context, added []escrowKey) {
	var left []pendingKey
	for _, k := range added {
		err := m.d.Repos.Restic().RemoveKey(context.WithoutCancel(ctx), k.r.Restic, k.id)
		result, details := audit.ResultOK, map[string]string{"key_id": k.id, "reason": "the kit was not written"}
		if err != nil {
			result, details["error"] = audit.ResultFailed, err.Error()
			m.d.logger().Error("remove an unused escrow key", "repository", k.r.Name(), "key", k.id, "err", err)
			left = append(left, pendingKey{Repository: k.r.Name(), KeyID: k.id}) // the next Make tries again
		}
		m.audit.Record(ctx, "recovery.escrow_key.remove", "repository:"+k.r.Name(), result, details)
	}
	if err := m.putPending(ctx, left); err != nil {
		m.d.logger().Error("forget the pending escrow keys", "err", err)
	}
}

// rotate removes from each repository every escrow key but the new one,
// noting the removed ids in rec. Where this host itself opens a
// repository with an escrow key (its password came from a kit, e.g.
// through `steward recover`), the host gets a key of its own first, so
// that the kit's key can go too.
func (m *Maker) rotate(ctx context.Context, added []escrowKey, rec *Record) error {
	restic := m.d.Repos.Restic()
	var errs []error
	for i, k := range added {
		ks, err := restic.Keys(ctx, k.r.Restic)
		if err != nil {
			errs = append(errs, fmt.Errorf("repository %q: list keys to rotate: %w", k.r.Name(), err))
			continue
		}
		if cur := slices.IndexFunc(ks, func(x resticx.Key) bool { return x.Current }); cur >= 0 && ks[cur].UserName == EscrowUser && ks[cur].ID != k.id {
			if err := m.replaceHostKey(ctx, k.r, ks[cur].ID); err != nil {
				errs = append(errs, err)
				continue
			}
			ks[cur].Current = false
		}
		for _, old := range ks {
			if old.UserName != EscrowUser || old.ID == k.id || old.Current {
				continue
			}
			err := restic.RemoveKey(ctx, k.r.Restic, old.ID)
			result, details := audit.ResultOK, map[string]string{"key_id": old.ID, "reason": "rotated"}
			if err != nil {
				result, details["error"] = audit.ResultFailed, err.Error()
				errs = append(errs, fmt.Errorf("repository %q: remove old escrow key %s: %w", k.r.Name(), old.ID, err))
			} else {
				rec.Repositories[i].Removed = append(rec.Repositories[i].Removed, old.ID)
			}
			m.audit.Record(ctx, "recovery.escrow_key.remove", "repository:"+k.r.Name(), result, details)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("the new kit was written, but older escrow keys remain (older kits still open them): %w", errors.Join(errs...))
	}
	return nil
}

// HostUser is the user name of a key replaceHostKey gives this host.
const HostUser = "steward"

// replaceHostKey gives this host a new key of its own (random password,
// sealed in place of the old one) where it opened r with escrow key
// oldID, and sets r's password to it.
func (m *Maker) replaceHostKey(ctx context.Context, r *repo.Repo, oldID string) error {
	restic := m.d.Repos.Restic()
	pw := keys.RandomSecret(escrowBytes)
	id, err := restic.AddKey(ctx, r.Restic, pw, HostUser, m.d.Config.Contract.ID)
	if err == nil {
		if err = m.d.Repos.ReplacePassword(r.Name(), pw); err != nil {
			_ = restic.RemoveKey(context.WithoutCancel(ctx), r.Restic, id) // nobody holds its password
		}
	}
	if err != nil {
		pw.Wipe()
		m.audit.Record(ctx, "repository.host_key.replace", "repository:"+r.Name(), audit.ResultFailed, map[string]string{"old_key_id": oldID, "error": err.Error()})
		return fmt.Errorf("repository %q: this host opens it with escrow key %s, and giving it a key of its own failed: %w", r.Name(), oldID, err)
	}
	r.Restic.Password = pw
	m.audit.Record(ctx, "repository.host_key.replace", "repository:"+r.Name(), audit.ResultOK, map[string]string{"old_key_id": oldID, "key_id": id})
	return nil
}

func (d KitDeps) logger() *slog.Logger {
	if d.Log != nil {
		return d.Log
	}
	return slog.New(slog.DiscardHandler)
}
