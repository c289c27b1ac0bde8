package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"steward/certs"
	"steward/internal/errs"
	"steward/internal/resticx"
	"steward/recovery"
)

// KitResult is what `recovery kit` made: the kit's record (no password)
// and its signed sheet.
type KitResult struct {
	Kit   *recovery.Record `json:"kit"`
	Sheet Written          `json:"sheet"`
}

// RecoveryKit adds a new escrow key to every repository, writes the
// recovery kit to opts.To (encrypted to recovery.recipients) and the
// signed recovery sheet (filed in the reports folder). With opts.Rotate,
// the older escrow keys are removed once the kit is written. No recipient
// configured, or a kit file that exists, is a usage error (exit 2):
// nothing was changed.
func (a *App) RecoveryKit(ctx context.Context, opts recovery.KitOptions) (*KitResult, error) {
	if err := a.checkNotFrozen(ctx, "recovery kits"); err != nil {
		return nil, err
	}
	repos, err := a.Repos(ctx)
	if err != nil {
		return nil, err
	}
	_, version, err := resticx.Find(ctx, a.Config.Restic.Path)
	if err != nil {
		return nil, err
	}
	m := recovery.NewMaker(recovery.KitDeps{Config: a.Config, Repos: repos, KV: a.Catalog, Audit: a.Audit, Clock: a.Clock, Log: a.Log, ResticVersion: version, AuditHead: a.Audit.Head})
	rec, err := m.Make(ctx, opts)
	if errors.Is(err, recovery.ErrNoRecipients) || errors.Is(err, recovery.ErrKitExists) {
		return nil, errs.AsUsage(err)
	}
	if rec == nil {
		return nil, err
	}
	res := &KitResult{Kit: rec}
	sheet, serr := a.recoverySheet(ctx, rec)
	res.Sheet = sheet
	if serr != nil {
		serr = fmt.Errorf("the kit %s was written, but its sheet was not: %w", rec.File, serr)
	}
	return res, errors.Join(err, serr)
}

// recoverySheet renders and signs rec's sheet.
func (a *App) recoverySheet(ctx context.Context, rec *recovery.Record) (Written, error) {
	s, err := RecoverySheet(rec)
	if err != nil {
		return Written{}, err
	}
	s.Contract, s.Customer = a.Config.Contract.ID, a.Config.Contract.Customer
	return a.WriteSignedReport(ctx, SignedReport{
		File:   a.reportFile("recovery-sheet-" + s.KitID),
		Reason: "Recovery kit sheet / 復旧キット管理票",
		Action: "recovery.sheet", Target: "kit:" + rec.File,
		Details: map[string]string{"kit_sha256": rec.SHA256},
		Render: func(w io.Writer, o certs.RenderOptions) (*certs.Rendered, error) {
			return certs.RenderRecoverySheet(w, s, o)
		},
	})
}

// RecoverySheet maps a kit's record onto the sheet's fields (the contract
// is filled in by the caller).
func RecoverySheet(rec *recovery.Record) (*certs.RecoverySheet, error) {
	created, err := time.Parse(time.RFC3339, rec.Created)
	if err != nil {
		return nil, fmt.Errorf("kit record: created %q: %w", rec.Created, err)
	}
	s := &certs.RecoverySheet{KitID: "RK-" + created.Format("20060102T150405") + "-" + rec.SHA256[:8], Created: created,
		KitFile: rec.File, KitSHA256: rec.SHA256, KitLocation: rec.KitLocation, ResticVersion: rec.ResticVersion,
		Recipients: rec.Recipients, Rotated: rec.Rotated}
	for _, r := range rec.Repositories {
		s.Repositories = append(s.Repositories, certs.RecoverySheetRepository{Name: r.Name, Role: r.Role, Location: r.Location, KeyID: r.KeyID, Removed: r.Removed})
	}
	return s, nil
}

// recoveryWarnings are status's warnings about the recovery kit: a
// repository (initialised, so it has a sealed password) without an
// escrow key in the last kit, or initialised after it.
func recoveryWarnings(rec *recovery.Record, kitErr error, repos []string, sealed func(string) string) []string {
	var ws []string
	if kitErr != nil && !errors.Is(kitErr, recovery.ErrNoKit) {
		return []string{kitErr.Error()}
	}
	var created time.Time
	if rec != nil {
		created, _ = time.Parse(time.RFC3339, rec.Created)
	}
	for _, name := range repos {
		st, err := os.Stat(sealed(name))
		if err != nil {
			continue // not initialised: nothing to escrow yet
		}
		if rec == nil {
			ws = append(ws, fmt.Sprintf("repository %s has no escrow key: if this host is lost it cannot be opened; set recovery.recipients and run `steward recovery kit --to FILE`", name))
			continue
		}
		if _, ok := rec.Repository(name); !ok {
			ws = append(ws, fmt.Sprintf("repository %s has no escrow key (the recovery kit of %s predates it): run `steward recovery kit --to FILE`", name, rec.Created))
			continue
		}
		if st.ModTime().After(created) {
			ws = append(ws, fmt.Sprintf("repository %s was initialised after the recovery kit of %s: run `steward recovery kit --to FILE`", name, rec.Created))
		}
	}
	return ws
}
