package app

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"steward/internal/audit"
	"steward/internal/catalog"
	"steward/internal/config"
	"steward/internal/errs"
	"steward/internal/keys"
	"steward/internal/state"
)

// InitResult is what Init made.
type InitResult struct {
	StateDir    string `json:"state_dir"`
	Catalog     string `json:"catalog"`
	MasterKey   string `json:"master_key"`
	AuditLog    string `json:"audit_log"`
	APIToken    string `json:"api_token_file"`
	Certificate string `json:"certificate"`
	Key         string `json:"key"`
	Generated   bool   `json:"certificate_generated"`
	Fingerprint string `json:"certificate_sha256"`
	NotAfter    string `json:"certificate_not_after"`
	AuditSeq    int64  `json:"audit_seq"`
}

// Init creates the config's state dir (0700) with its catalog, master
// key, API token (keys/api.token, 0600), signing certificate (unless the configured one exists) and audit
// log, whose first record is steward.init. It refuses a state dir that
// holds anything, and leaves nothing behind when it fails.
func Init(ctx context.Context, o Options) (res *InitResult, err error) {
	cfg, err := o.LoadConfig()
	if err != nil {
		return nil, err
	}
	c, err := o.ZonedClock(cfg)
	if err != nil {
		return nil, err
	}
	dir := state.Dir(cfg.StateDir)
	entries, rerr := os.ReadDir(dir.Root())
	switch {
	case rerr == nil && len(entries) > 0:
		return nil, errs.Usage("state dir %s already holds files: init never overwrites a state dir; pass another --state-dir, or move this one away yourself", dir)
	case rerr != nil && !errors.Is(rerr, fs.ErrNotExist):
		return nil, fmt.Errorf("state dir %s: %w", dir, rerr)
	}
	created := errors.Is(rerr, fs.ErrNotExist)
	if err := os.MkdirAll(dir.Root(), 0o700); err != nil {
		return nil, fmt.Errorf("create state dir: %w", err)
	}
	if err := os.Chmod(dir.Root(), 0o700); err != nil {
		return nil, err
	}
	// Leave nothing half-made behind.
	var made []string
	defer func() {
		if err == nil {
			return
		}
		for i := len(made) - 1; i >= 0; i-- {
			os.Remove(made[i])
		}
		for _, sub := range dir.InitFolders() {
			os.Remove(sub)
		}
		if created {
			os.Remove(dir.Root())
		}
	}()
	for _, sub := range dir.InitFolders() {
		if err := os.MkdirAll(sub, 0o700); err != nil {
			return nil, err
		}
	}
	if pg := cfg.Catalog.Postgres; pg != nil {
		if scheme, _ := pg.Password.Parts(); scheme == config.SchemeSealed {
			return nil, errs.Usage("catalog.postgres.password: a sealed value cannot be opened before init has made the master key: give it as env: or file: for init (seal it afterwards with `steward secret seal` if you like)")
		}
	}
	if err := keys.CreateMasterKey(dir.Root()); err != nil {
		return nil, err
	}
	made = append(made, dir.MasterKey())
	tok, err := keys.CreateAPIToken(dir.APIToken())
	if err != nil {
		return nil, err
	}
	tok.Wipe()
	made = append(made, dir.APIToken())

	res = &InitResult{StateDir: dir.Root(), Catalog: catalog.Describe(cfg), MasterKey: dir.MasterKey(), AuditLog: dir.AuditMirror(), APIToken: dir.APIToken(),
		Certificate: cfg.Signing.Certificate, Key: cfg.Signing.Key}
	cert, err := keys.LoadCertificate(cfg.Signing.Certificate)
	switch {
	case err == nil:
		if _, err := keys.LoadSigner(cfg.Signing.Key); err != nil {
			return nil, errs.Usage("signing.key: %v (signing.certificate exists, so its key must too)", err)
		}
	case fileExists(cfg.Signing.Certificate):
		return nil, errs.Usage("signing.certificate: %v", err)
	default:
		cert, err = keys.CreateSigningCertificate(cfg.Signing.Certificate, cfg.Signing.Key, signingSubject(cfg), c.Now(), 10*365*24*time.Hour)
		if err != nil {
			return nil, fmt.Errorf("signing certificate: %w", err)
		}
		made = append(made, cfg.Signing.Certificate, cfg.Signing.Key)
		res.Generated = true
	}
	res.Fingerprint = keys.Fingerprint(cert)
	res.NotAfter = c.Format(cert.NotAfter)

	// The catalog last: a PostgreSQL one lies outside the state dir, so
	// nothing that can fail comes after it but the first audit record.
	store, err := catalog.CreateConfigured(ctx, cfg, nil)
	if err != nil {
		return nil, err
	}
	if cfg.Catalog.Postgres == nil {
		made = append(made, dir.Catalog(), dir.Catalog()+"-wal", dir.Catalog()+"-shm")
	}
	defer store.Close()

	log := newAudit(store, dir, c)
	made = append(made, dir.AuditMirror())
	rec, err := log.Append(ctx, audit.Entry{Action: "steward.init", Target: "state", Result: audit.ResultOK, Details: map[string]string{
		"certificate_sha256": res.Fingerprint, "certificate_generated": fmt.Sprint(res.Generated), "contract": cfg.Contract.ID,
	}})
	if err != nil {
		return nil, err
	}
	res.AuditSeq = rec.Seq
	return res, nil
}

func signingSubject(cfg *config.Config) keys.SigningSubject {
	s := keys.SigningSubject{CommonName: "Steward " + cfg.Contract.ID, Organisation: cfg.Signing.Organisation, Country: "JP"}
	if cfg.Signing.Signer != "" {
		s.CommonName = cfg.Signing.Signer
	}
	return s
}
