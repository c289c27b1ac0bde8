package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"steward/internal/audit"
	"steward/internal/catalog"
	"steward/internal/clock"
	"steward/internal/config"
	"steward/internal/keys"
	"steward/internal/repo"
	"steward/internal/resticx"
	"steward/internal/state"
)

// StatusResult is what Steward would work with: the config, the state dir,
// clock sync, restic and the audit log's head, with warnings.
type StatusResult struct {
	Config       string           `json:"config"`
	Contract     string           `json:"contract"`
	Customer     string           `json:"customer"`
	EndDate      string           `json:"end_date"`
	DaysLeft     int              `json:"days_left"`
	TimeZone     string           `json:"time_zone"`
	Now          string           `json:"now"`
	Clock        clock.SyncStatus `json:"clock_sync"`
	StateDir     string           `json:"state_dir"`
	Initialised  bool             `json:"initialised"`
	Schema       int              `json:"catalog_schema,omitempty"`
	AuditRecords int64            `json:"audit_head_seq"`
	AuditHead    string           `json:"audit_head_hash,omitempty"`
	Restic       string           `json:"restic,omitempty"`
	ResticVer    string           `json:"restic_version,omitempty"`
	Certificate  string           `json:"certificate_sha256,omitempty"`
	CertNotAfter string           `json:"certificate_not_after,omitempty"`
	Repositories []string         `json:"repositories"`
	// Health is each repository's last verdict (check or drill) known to
	// the catalog.
	Health   []repo.Health `json:"repository_health,omitempty"`
	Sources  []string      `json:"sources"`
	Jobs     []string      `json:"jobs"`
	Warnings []string      `json:"warnings"`
}

// Status reads the config and the state dir (which need not be
// initialised) and changes nothing.
func Status(ctx context.Context, o Options) (*StatusResult, error) {
	cfg, err := o.LoadConfig()
	if err != nil {
		return nil, err
	}
	c, err := o.ZonedClock(cfg)
	if err != nil {
		return nil, err
	}
	now := c.Now()
	res := &StatusResult{
		Config:   o.ConfigSource(),
		Contract: cfg.Contract.ID, Customer: cfg.Contract.Customer, EndDate: cfg.Contract.EndDate.String(),
		TimeZone: cfg.Contract.TimeZone, Now: c.Format(now), StateDir: cfg.StateDir,
		Clock:    clock.CheckSync(ctx),
		Warnings: ConfigWarnings(cfg, c),
	}
	if res.Config == "" {
		res.Config = "(embedded default)"
	}
	res.DaysLeft = int(cfg.Contract.EndDate.End(c.Location()).Sub(now).Hours() / 24)
	for _, r := range cfg.Repositories {
		res.Repositories = append(res.Repositories, r.Name+" ("+r.Kind()+")")
	}
	for _, s := range cfg.Sources {
		res.Sources = append(res.Sources, s.Name+" ("+s.Kind()+")")
	}
	for _, j := range cfg.Jobs {
		res.Jobs = append(res.Jobs, j.Name)
	}
	if res.Clock.State != clock.Synchronised {
		res.Warnings = append(res.Warnings, "clock is "+res.Clock.String()+": logged times may drift (req 15)")
	}
	if err := res.readState(ctx, cfg, c); err != nil {
		return nil, err
	}
	if cert, err := keys.LoadCertificate(cfg.Signing.Certificate); err == nil {
		res.Certificate = keys.Fingerprint(cert)
		res.CertNotAfter = c.Format(cert.NotAfter)
		if cert.NotAfter.Sub(now) < 90*24*time.Hour {
			res.Warnings = append(res.Warnings, "the signing certificate expires on "+res.CertNotAfter+": renew it before signing reports")
		}
	} else if res.Initialised {
		res.Warnings = append(res.Warnings, "signing certificate: "+err.Error())
	}
	if bin, v, err := resticx.Find(ctx, cfg.Restic.Path); err == nil {
		res.Restic, res.ResticVer = bin, v
	} else {
		res.Warnings = append(res.Warnings, err.Error())
	}
	return res, nil
}

// readState fills in the catalog's schema and the audit head.
func (res *StatusResult) readState(ctx context.Context, cfg *config.Config, c *clock.Zoned) error {
	dir := state.Dir(cfg.StateDir)
	store, err := catalog.Open(ctx, dir.Catalog())
	switch {
	case errors.Is(err, catalog.ErrNoCatalog):
		res.Warnings = append(res.Warnings, "state dir is not initialised: run `steward init`")
		return nil
	case err != nil:
		return err
	}
	defer store.Close()
	res.Initialised = true
	if ro := store.ReadOnly(); ro != nil {
		res.Warnings = append(res.Warnings, "catalog: "+ro.Error()+"; until then Steward reads the catalog but records nothing (no backup, drill or audit record)")
	}
	res.Schema, _ = store.SchemaVersion(ctx)
	book := repo.HealthBook{KV: store}
	for _, r := range cfg.Repositories {
		h, ok, err := book.Get(ctx, r.Name)
		switch {
		case err != nil:
			res.Warnings = append(res.Warnings, err.Error())
		case !ok:
			res.Warnings = append(res.Warnings, fmt.Sprintf("repository %s has never been checked or drilled: run `steward repo check %s` or `steward drill run --repository %s`", r.Name, r.Name, r.Name))
		default:
			res.Health = append(res.Health, h)
			if h.Failing() {
				res.Warnings = append(res.Warnings, fmt.Sprintf("repository %s is FAILING (%s): repair or replace it, then run `steward repo check %s`", r.Name, h, r.Name))
			}
		}
	}
	seq, hash, err := audit.New(store, dir.AuditMirror(), c).Head(ctx)
	if err != nil && !errors.Is(err, catalog.ErrNotFound) {
		return err
	}
	res.AuditRecords, res.AuditHead = seq, hash
	return nil
}

// minCoolingOff is the shortest erase cooling-off that does not draw a
// warning.
const minCoolingOff = 24 * time.Hour

// ConfigWarnings are things in a valid config that need attention: the
// contract's end, jobs without a replica, a short erase cooling-off,
// secret files others may read.
func ConfigWarnings(cfg *config.Config, c *clock.Zoned) []string {
	var ws []string
	left := cfg.Contract.EndDate.End(c.Location()).Sub(c.Now())
	switch {
	case left <= 0:
		ws = append(ws, fmt.Sprintf("the contract ended on %s: erase its data (req 23)", cfg.Contract.EndDate))
	case left <= 90*24*time.Hour:
		ws = append(ws, fmt.Sprintf("the contract ends on %s (%d days): plan the hand-over and erasure", cfg.Contract.EndDate, int(left.Hours()/24)))
	}
	for _, j := range cfg.Jobs {
		if len(j.Replicas) == 0 {
			ws = append(ws, fmt.Sprintf("job %q has no replica: req 18 asks for a second location", j.Name))
		}
	}
	if co := cfg.Erase.CoolingOff.D(); co < minCoolingOff {
		ws = append(ws, fmt.Sprintf("erase.cooling_off is %s: an approved erasure could run before anyone notices a mistake (req 12); use at least 24h outside tests", cfg.Erase.CoolingOff))
	}
	for _, fs := range cfg.SecretRefs() {
		scheme, path := fs.Ref.Parts()
		if scheme != config.SchemeFile {
			continue
		}
		if st, err := os.Stat(path); err == nil && st.Mode().Perm()&0o077 != 0 {
			ws = append(ws, fmt.Sprintf("%s: secret file %s has mode %04o, so other users may read it: run `chmod 600 %s`", fs.Path, path, st.Mode().Perm(), path))
		}
	}
	return ws
}
