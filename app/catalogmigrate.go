package app

import (
	"context"
	"errors"
	"fmt"

	"steward/internal/audit"
	"steward/internal/catalog"
	"steward/internal/errs"
	"steward/internal/keys"
	"steward/internal/state"
)

// CatalogMigrateResult is what MigrateCatalog moved.
type CatalogMigrateResult struct {
	From   string               `json:"from"`
	To     string               `json:"to"`
	Tables []catalog.TableCount `json:"tables"`
	// AuditRecords and AuditHead are the copied log as verified on the
	// target (before the catalog.migrate record was appended there).
	AuditRecords int64  `json:"audit_records"`
	AuditHead    string `json:"audit_head"`
	AuditSeq     int64  `json:"audit_seq"`
}

// MigrateCatalog copies the state dir's SQLite catalog into the
// PostgreSQL catalog the config names (catalog.postgres), which must be
// empty; checks the counts and the audit chain on the target (against
// this state dir's mirror); and records catalog.migrate in the target's
// audit log. The SQLite file is left as it was. From then on every command
// using this config uses the PostgreSQL catalog. A failure is recorded in
// the SQLite catalog's log.
func MigrateCatalog(ctx context.Context, o Options) (*CatalogMigrateResult, error) {
	cfg, err := o.LoadConfig()
	if err != nil {
		return nil, err
	}
	if cfg.Catalog.Postgres == nil {
		return nil, errs.Usage("catalog migrate --to postgres: the config has no catalog.postgres: add it (host, port, database, user, password, sslmode; docs/config.md) naming an empty database, then run this again")
	}
	c, err := o.ZonedClock(cfg)
	if err != nil {
		return nil, err
	}
	dir := state.Dir(cfg.StateDir)
	if err := checkPrivate(dir); err != nil {
		return nil, err
	}
	src, err := catalog.Open(ctx, dir.Catalog())
	if errors.Is(err, catalog.ErrNoCatalog) {
		return nil, errs.Usage("catalog migrate: state dir %s has no SQLite catalog (%s) to copy", cfg.StateDir, dir.Catalog())
	}
	if err != nil {
		return nil, err
	}
	defer src.Close()
	kr, err := keys.Open(cfg.StateDir)
	if err != nil {
		kr = nil // only a sealed catalog password needs it; Resolve says so
	}
	pc, _, err := catalog.PostgresFor(cfg, kr)
	if err != nil {
		return nil, err
	}
	res := &CatalogMigrateResult{From: dir.Catalog(), To: pc.String()}
	srcLog := audit.New(src, dir.AuditMirror(), c)
	// The source's own log must verify before it is copied; then it is
	// where a failure is recorded (while the state dir's mirror agrees
	// with it: once a migration succeeded, records go to the target).
	rep, verr := srcLog.Verify(ctx)
	fail := func(err error) (*CatalogMigrateResult, error) {
		if verr == nil {
			_, _ = srcLog.Append(context.WithoutCancel(ctx), audit.Entry{Action: "catalog.migrate", Target: res.To, Result: audit.ResultFailed,
				Details: map[string]string{"error": err.Error()}})
		}
		return nil, err
	}
	dst, err := catalog.OpenPostgresTarget(ctx, pc)
	if err != nil {
		return fail(err)
	}
	defer dst.Close()
	if err := dst.CheckEmpty(ctx); err != nil {
		return fail(err)
	}
	if verr != nil {
		return nil, fmt.Errorf("catalog migrate: the SQLite catalog's audit log does not verify against this state dir's mirror (%v): nothing was copied; see `steward audit verify`", verr)
	}
	res.AuditRecords = rep.Records
	res.Tables, err = catalog.CopyToPostgres(ctx, src, dst)
	if err != nil {
		return fail(err)
	}
	// The copy verifies as the original did: its chain, and record for
	// record against this state dir's mirror.
	rep, err = audit.New(dst, dir.AuditMirror(), c).Verify(ctx)
	if err != nil {
		return fail(fmt.Errorf("catalog migrate: the copied audit log does not verify on %s: %w", res.To, err))
	}
	if rep.Records != res.AuditRecords {
		return fail(fmt.Errorf("catalog migrate: %d audit records copied, %d in the SQLite catalog", rep.Records, res.AuditRecords))
	}
	res.AuditHead = rep.HeadHash
	dstLog := newAudit(dst, dir, c)
	details := map[string]string{"from": res.From, "audit_head": rep.HeadHash}
	for _, t := range res.Tables {
		details[t.Table] = fmt.Sprint(t.Rows)
	}
	rec, err := dstLog.Append(ctx, audit.Entry{Action: "catalog.migrate", Target: res.To, Result: audit.ResultOK, Details: details})
	if err != nil {
		return nil, fmt.Errorf("catalog migrate: copied and verified, but the record of it could not be appended on %s: %w", res.To, err)
	}
	res.AuditSeq = rec.Seq
	return res, nil
}
