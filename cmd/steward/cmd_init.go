package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/urfave/cli/v3"

	"steward/internal/audit"
	"steward/internal/catalog"
	"steward/internal/config"
	"steward/internal/errs"
	"steward/internal/keys"
)

type initOptions struct{}

func newInitCommand(g *globalOptions) *cli.Command {
	return &cli.Command{
		Name:  "init",
		Usage: "create the state dir: catalog, master key and signing certificate",
		Description: `init creates the state dir named by state_dir (or --state-dir) with mode
0700, and in it:
   catalog.db           the catalog (SQLite, WAL)
   keys/master.key      the master key that seals repository passwords (0600)
   keys/signing.crt     a self-signed ECDSA P-256 signing certificate and
   keys/signing.key     its key (0600), unless signing.certificate and
                        signing.key name files that already exist
   audit.jsonl          the audit log's mirror
It refuses to touch a state dir that already holds anything.`,
		Action: func(ctx context.Context, cmd *cli.Command) error {
			return runInit(ctx, initOptions{}, g, g.stdout)
		},
	}
}

type initResult struct {
	StateDir    string `json:"state_dir"`
	Catalog     string `json:"catalog"`
	MasterKey   string `json:"master_key"`
	Certificate string `json:"certificate"`
	Key         string `json:"key"`
	Generated   bool   `json:"certificate_generated"`
	Fingerprint string `json:"certificate_sha256"`
	NotAfter    string `json:"certificate_not_after"`
	AuditSeq    int64  `json:"audit_seq"`
}

func runInit(ctx context.Context, _ initOptions, g *globalOptions, out io.Writer) (err error) {
	cfg, err := g.loadConfig()
	if err != nil {
		return err
	}
	c, err := g.zonedClock(cfg)
	if err != nil {
		return err
	}
	dir := cfg.StateDir
	entries, rerr := os.ReadDir(dir)
	switch {
	case rerr == nil && len(entries) > 0:
		return errs.Usage("state dir %s already holds files: init never overwrites a state dir; pass another --state-dir, or move this one away yourself", dir)
	case rerr != nil && !errors.Is(rerr, fs.ErrNotExist):
		return fmt.Errorf("state dir %s: %w", dir, rerr)
	}
	created := errors.Is(rerr, fs.ErrNotExist)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create state dir: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return err
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
		for _, sub := range []string{"keys", "reports", "tmp"} {
			os.Remove(filepath.Join(dir, sub))
		}
		if created {
			os.Remove(dir)
		}
	}()
	for _, sub := range []string{"keys", "reports", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return err
		}
	}
	catPath := catalog.Path(dir)
	store, err := catalog.Create(ctx, catPath)
	if err != nil {
		return err
	}
	made = append(made, catPath, catPath+"-wal", catPath+"-shm")
	defer store.Close()

	if err := keys.CreateMasterKey(dir); err != nil {
		return err
	}
	made = append(made, keys.MasterKeyPath(dir))

	res := initResult{StateDir: dir, Catalog: catPath, MasterKey: keys.MasterKeyPath(dir), Certificate: cfg.Signing.Certificate, Key: cfg.Signing.Key}
	cert, err := keys.LoadCertificate(cfg.Signing.Certificate)
	switch {
	case err == nil:
		if _, err := keys.LoadSigner(cfg.Signing.Key); err != nil {
			return errs.Usage("signing.key: %v (signing.certificate exists, so its key must too)", err)
		}
	case fileExists(cfg.Signing.Certificate):
		return errs.Usage("signing.certificate: %v", err)
	default:
		cert, err = keys.CreateSigningCertificate(cfg.Signing.Certificate, cfg.Signing.Key, signingSubject(cfg), c.Now(), 10*365*24*time.Hour)
		if err != nil {
			return fmt.Errorf("signing certificate: %w", err)
		}
		made = append(made, cfg.Signing.Certificate, cfg.Signing.Key)
		res.Generated = true
	}
	res.Fingerprint = keys.Fingerprint(cert)
	res.NotAfter = c.Format(cert.NotAfter)

	log := audit.New(store, audit.MirrorPath(dir), c)
	made = append(made, audit.MirrorPath(dir))
	rec, err := log.Append(ctx, audit.Entry{Action: "steward.init", Target: "state", Result: audit.ResultOK, Details: map[string]string{
		"certificate_sha256": res.Fingerprint, "certificate_generated": fmt.Sprint(res.Generated), "contract": cfg.Contract.ID,
	}})
	if err != nil {
		return err
	}
	res.AuditSeq = rec.Seq

	if g.JSON {
		return printJSON(out, res)
	}
	fmt.Fprintf(out, "Initialised state dir %s (mode 0700)\n", dir)
	fmt.Fprintf(out, "  catalog              %s\n", res.Catalog)
	fmt.Fprintf(out, "  master key           %s (0600)\n", res.MasterKey)
	how := "generated, self-signed ECDSA P-256"
	if !res.Generated {
		how = "existing"
	}
	fmt.Fprintf(out, "  signing certificate  %s (%s, valid until %s)\n", res.Certificate, how, res.NotAfter)
	fmt.Fprintf(out, "  signing key          %s (0600)\n", res.Key)
	fmt.Fprintf(out, "  certificate SHA-256  %s\n", res.Fingerprint)
	fmt.Fprintf(out, "  audit log            %s (record %d)\n", audit.MirrorPath(dir), res.AuditSeq)
	fmt.Fprintf(out, "Give the certificate's SHA-256 to the city: `steward verify --fingerprint` checks reports against it.\nNext: steward config check; steward status\n")
	return nil
}

func signingSubject(cfg *config.Config) keys.SigningSubject {
	s := keys.SigningSubject{CommonName: "Steward " + cfg.Contract.ID, Organisation: cfg.Signing.Organisation, Country: "JP"}
	if cfg.Signing.Signer != "" {
		s.CommonName = cfg.Signing.Signer
	}
	return s
}
