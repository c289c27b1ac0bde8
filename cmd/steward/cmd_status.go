package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/urfave/cli/v3"

	"steward/internal/audit"
	"steward/internal/catalog"
	"steward/internal/clock"
	"steward/internal/keys"
	"steward/internal/resticx"
)

type statusOptions struct{}

func newStatusCommand(g *globalOptions) *cli.Command {
	return &cli.Command{
		Name:  "status",
		Usage: "show the contract, state dir, clock sync, restic and the audit log head",
		Description: `status reads the config and the state dir and shows what Steward would
work with. It changes nothing. Warnings (contract end within 90 days, clock not
synchronised, restic missing) are listed at the end.`,
		Action: func(ctx context.Context, cmd *cli.Command) error {
			return runStatus(ctx, statusOptions{}, g, g.stdout)
		},
	}
}

type statusResult struct {
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
	Sources      []string         `json:"sources"`
	Jobs         []string         `json:"jobs"`
	Warnings     []string         `json:"warnings"`
}

func runStatus(ctx context.Context, _ statusOptions, g *globalOptions, out io.Writer) error {
	cfg, err := g.loadConfig()
	if err != nil {
		return err
	}
	c, err := g.zonedClock(cfg)
	if err != nil {
		return err
	}
	now := c.Now()
	res := statusResult{
		Config:   g.configSource(),
		Contract: cfg.Contract.ID, Customer: cfg.Contract.Customer, EndDate: cfg.Contract.EndDate.String(),
		TimeZone: cfg.Contract.TimeZone, Now: c.Format(now), StateDir: cfg.StateDir,
		Clock:    clock.CheckSync(ctx),
		Warnings: configWarnings(cfg, g),
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

	store, err := catalog.Open(ctx, catalog.Path(cfg.StateDir))
	switch {
	case errors.Is(err, catalog.ErrNoCatalog):
		res.Warnings = append(res.Warnings, "state dir is not initialised: run `steward init`")
	case err != nil:
		return err
	default:
		defer store.Close()
		res.Initialised = true
		res.Schema, _ = store.SchemaVersion(ctx)
		seq, hash, err := audit.New(store, audit.MirrorPath(cfg.StateDir), c).Head(ctx)
		if err != nil && !errors.Is(err, catalog.ErrNotFound) {
			return err
		}
		res.AuditRecords, res.AuditHead = seq, hash
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

	if g.JSON {
		return printJSON(out, res)
	}
	row := func(k, v string) { fmt.Fprintf(out, "%-14s %s\n", k, v) }
	row("config", res.Config)
	row("contract", fmt.Sprintf("%s — %s (ends %s, %d days left)", res.Contract, res.Customer, res.EndDate, res.DaysLeft))
	row("time", res.Now+" ("+res.TimeZone+")")
	row("clock sync", res.Clock.String())
	if res.Initialised {
		row("state dir", fmt.Sprintf("%s (catalog schema %d)", res.StateDir, res.Schema))
		if res.AuditRecords > 0 {
			row("audit log", fmt.Sprintf("%d records, head %s", res.AuditRecords, res.AuditHead))
		}
	} else {
		row("state dir", res.StateDir+" (not initialised)")
	}
	if res.Restic != "" {
		row("restic", res.ResticVer+" at "+res.Restic)
	}
	if res.Certificate != "" {
		row("signing cert", "SHA-256 "+res.Certificate+", valid until "+res.CertNotAfter)
	}
	row("repositories", joinOrNone(res.Repositories))
	row("sources", joinOrNone(res.Sources))
	row("jobs", joinOrNone(res.Jobs))
	for _, w := range res.Warnings {
		fmt.Fprintf(out, "warning: %s\n", w)
	}
	return nil
}

func joinOrNone(items []string) string {
	if len(items) == 0 {
		return "(none)"
	}
	s := items[0]
	for _, i := range items[1:] {
		s += ", " + i
	}
	return s
}
