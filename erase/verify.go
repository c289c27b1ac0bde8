package erase

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"steward/certs"
	"steward/internal/audit"
	"steward/internal/clock"
	"steward/internal/objstore"
	"steward/internal/pgsql"
)

// Verification results (the verify step's target results).
const (
	Verified    = "verified"
	NotVerified = "not verified"
)

// verify checks every target's post-condition independently of how it
// was erased, with fresh clients and connections.
//
// The master key is not checked here: it is still needed (the sealed
// admin credentials above) and is destroyed, then checked, in the next
// step.
func (x *execRun) verify(ctx context.Context, ev *StepEvidence) error {
	ev.Targets = slices.DeleteFunc(x.e.Verify(ctx, x.p, x.accountResults(ctx)), func(r TargetResult) bool { return r.ID == MasterKeyTarget })
	return nil // a target not verified is an exception on the certificate, not a failed step
}

// accountResults is what the credentials step did, by target id.
func (x *execRun) accountResults(ctx context.Context) map[string]TargetResult {
	return x.e.stepResults(ctx, x.p.ID, StepCredentials)
}

// stepResults reads one step's target results from the journal.
func (e *Eraser) stepResults(ctx context.Context, planID, step string) map[string]TargetResult {
	out := map[string]TargetResult{}
	rows, err := e.store.Journal(ctx, planID)
	if err != nil {
		return out
	}
	for _, r := range rows {
		if r.Name != step {
			continue
		}
		var ev StepEvidence
		_ = json.Unmarshal(r.Evidence, &ev)
		for _, t := range ev.Targets {
			out[t.ID] = t
		}
	}
	return out
}

// VerifyPlan checks plan id's targets now (`steward erase verify`), and
// audits the outcome.
func (e *Eraser) VerifyPlan(ctx context.Context, id string) ([]TargetResult, error) {
	p, err := e.Plan(ctx, id)
	if err != nil {
		return nil, err
	}
	res := e.Verify(ctx, p, e.stepResults(ctx, id, StepCredentials))
	bad := 0
	for _, r := range res {
		if r.Result != Verified {
			bad++
		}
	}
	result := audit.ResultOK
	if bad > 0 {
		result = audit.ResultFailed
	}
	e.rec.Record(ctx, "erase.verify", "plan:"+id, result, map[string]string{"targets": fmt.Sprint(len(res)), "not_verified": fmt.Sprint(bad)})
	return res, nil
}

// Verify checks each of p's targets: gone, and (accounts) revoked.
func (e *Eraser) Verify(ctx context.Context, p *Plan, accounts map[string]TargetResult) []TargetResult {
	var out []TargetResult
	for _, t := range p.Targets {
		started := e.now()
		detail, err := e.verifyOne(ctx, t, accounts)
		r := TargetResult{ID: t.ID, Started: started, Finished: e.now(), Result: Verified, Detail: detail}
		if err != nil {
			r.Result, r.Detail = NotVerified, err.Error()
		}
		out = append(out, r)
	}
	return out
}

// verifyOne returns how t was found gone, or why it was not.
func (e *Eraser) verifyOne(ctx context.Context, t Target, accounts map[string]TargetResult) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	switch t.Kind {
	case certs.KindRepositoryKey:
		r, err := e.eraseRepo(t.Name)
		if err != nil {
			return "", err
		}
		if r.S3 == nil {
			return noFiles(filepath.Join(r.Config.Local.Path, "keys"))
		}
		return noVersions(ctx, e.verifyClient(ctx, r.S3.WithBucket(r.Target.Bucket, keyPrefix(r.Target.Prefix))), "no key object in any version")
	case certs.KindRepositoryS3:
		r, err := e.eraseRepo(t.Name)
		if err != nil {
			return "", err
		}
		if p := strings.Trim(r.Target.Prefix, "/"); p != "" {
			return noVersions(ctx, e.verifyClient(ctx, r.S3.WithBucket(r.Target.Bucket, p+"/")), "no object, version, marker or upload under the prefix")
		}
		return noBucket(ctx, e.verifyClient(ctx, r.S3.WithBucket(r.Target.Bucket, "")))
	case certs.KindS3Bucket:
		c, err := e.bucketClient(t)
		if err != nil {
			return "", err
		}
		return noBucket(ctx, e.verifyClient(ctx, c))
	case certs.KindPostgres:
		return e.noDatabase(ctx, t)
	case certs.KindCatalog:
		if e.manifests == nil {
			return "", errors.New("the catalog's manifests cannot be counted")
		}
		n, err := e.manifests(ctx)
		if err != nil {
			return "", err
		}
		if n != 0 {
			return "", fmt.Errorf("the catalog still holds %d manifests", n)
		}
		return "the catalog holds no manifest", nil
	case certs.KindAccount:
		if r, ok := accounts[t.ID]; ok && r.Result != TargetErased && r.Result != TargetAbsent {
			return "", fmt.Errorf("not revoked: %s", r.Detail)
		}
		return e.verifyAccount(ctx, t)
	}
	if t.ID == tmpTarget {
		return noFiles(t.Location)
	}
	if t.ID == MasterKeyTarget {
		return masterKeyGone(e.dir.Root(), t.Location)
	}
	return absent(t.Location)
}

func absent(path string) (string, error) {
	_, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "absent from the file system (lstat: no such file)", nil
	}
	if err != nil {
		return "", err
	}
	return "", fmt.Errorf("%s still exists", path)
}

// noFiles checks that dir holds nothing (or is gone).
func noFiles(dir string) (string, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return "the directory is gone", nil
	}
	if err != nil {
		return "", err
	}
	if len(ents) > 0 {
		return "", fmt.Errorf("%d entries remain in %s", len(ents), dir)
	}
	return "the directory is empty", nil
}

func noVersions(ctx context.Context, c *objstore.Client, ok string) (string, error) {
	n, gone, err := countBucket(ctx, c)
	if err != nil {
		return "", err
	}
	if gone {
		return "the bucket is gone (NoSuchBucket)", nil
	}
	if left := n.Versions + n.DeleteMarkers + n.UnfinishedUploads; left > 0 {
		return "", fmt.Errorf("%d versions, %d delete markers and %d unfinished uploads remain", n.Versions, n.DeleteMarkers, n.UnfinishedUploads)
	}
	return ok, nil
}

func noBucket(ctx context.Context, c *objstore.Client) (string, error) {
	ok, err := c.Exists(ctx)
	if err != nil {
		return "", err
	}
	if ok {
		return "", errors.New("the bucket still exists")
	}
	return "the bucket is gone (NoSuchBucket)", nil
}

func (e *Eraser) noDatabase(ctx context.Context, t Target) (string, error) {
	server, pw, name, err := e.database(t)
	if err != nil {
		return "", err
	}
	exists, err := pgsql.DatabaseExists(ctx, server, pw, name)
	if err != nil {
		return "", err
	}
	if exists {
		return "", fmt.Errorf("database %s is still in pg_database", name)
	}
	return "absent from pg_database", nil
}

// evidence builds the evidence bundle of plan p from its journal.
func (e *Eraser) evidence(ctx context.Context, p *Plan, operator string, issued time.Time) (*certs.Evidence, error) {
	done := map[string]TargetResult{}
	for _, step := range []string{StepCryptoErase, StepDelete, StepCredentials, StepCatalog} {
		for id, r := range e.stepResults(ctx, p.ID, step) {
			done[id] = r
		}
	}
	verified := e.stepResults(ctx, p.ID, StepVerify)
	// The master-key step checks what it destroyed itself.
	for id, r := range e.stepResults(ctx, p.ID, StepMasterKey) {
		done[id] = r
		if r.Result == TargetErased || r.Result == TargetAbsent {
			verified[id] = TargetResult{ID: id, Result: Verified, Detail: r.Detail}
		} else {
			verified[id] = TargetResult{ID: id, Result: NotVerified, Detail: r.Detail}
		}
	}
	approver := ""
	if p.Approval != nil {
		approver = p.Approval.By
	}
	ev := &certs.Evidence{
		Schema: certs.EvidenceSchema, CertificateID: "DC-" + strings.TrimPrefix(p.ID, "EP-"), Issued: issued,
		Issuer:   certs.Issuer{Organisation: e.cfg.Signing.Organisation, Signer: e.cfg.Signing.Signer},
		Contract: certs.Contract{ID: e.cfg.Contract.ID, Customer: e.cfg.Contract.Customer, Service: e.cfg.Contract.Service, EndDate: e.cfg.Contract.EndDate.String()},
		Clock:    certs.ClockState{Zone: e.cfg.Contract.TimeZone, Sync: clock.CheckSync(ctx)},
		Operator: operator, Approver: approver, PlanID: p.ID,
	}
	parse := func(s string) time.Time {
		t, _ := e.clock.Parse(s)
		return t
	}
	for _, t := range p.Targets {
		d, v := done[t.ID], verified[t.ID]
		ver := certs.Verification{Method: v.Detail, Result: certs.ResultPassed}
		if v.Result != Verified {
			ver = certs.Verification{Method: "independent check after erasure", Result: certs.ResultFailed, Detail: v.Detail}
		}
		exception := ""
		switch {
		case d.Result == TargetException || d.Result == TargetFailed:
			exception = d.Detail
		case v.Result != Verified:
			exception = "not verified: " + v.Detail
		}
		if t.Kind == certs.KindAccount {
			ev.Accounts = append(ev.Accounts, certs.Account{Kind: accountKind(e, t.Name), Name: t.Name, Location: t.Location,
				Revoked: parse(d.Finished), Verification: ver, Exception: exception})
			continue
		}
		method, nist := certs.MethodLogicalDelete, certs.NISTClear
		if t.Kind == certs.KindRepositoryKey || t.Kind == certs.KindSealedSecret {
			method, nist = certs.MethodCryptoErase, certs.NISTPurge
		}
		ev.Targets = append(ev.Targets, certs.Target{ID: t.ID, Kind: t.Kind, Name: t.Name, Location: t.Location, Region: t.Region,
			Before: t.Before, Method: method, NIST: nist, Started: parse(d.Started), Finished: parse(d.Finished),
			Verification: ver, Exception: exception})
	}
	if e.recoveryKits != nil {
		kits, err := e.recoveryKits(ctx)
		if err != nil {
			return nil, fmt.Errorf("read the recovery kits' record: %w", err)
		}
		ev.RecoveryKits = kits
	}
	if _, err := os.Stat(e.dir.EraseObjects(p.ID)); err == nil {
		ev.Objects = readObjects(e.dir.EraseObjects(p.ID))
	}
	for _, a := range e.cfg.Signing.Attestations {
		ev.Attestations = append(ev.Attestations, certs.Attestation{Title: a.Title, Issuer: a.Issuer, Date: a.Date.String(), Reference: a.Reference})
	}
	if err := ev.Validate(); err != nil {
		return nil, err
	}
	return ev, nil
}

func accountKind(e *Eraser, name string) string {
	for _, a := range e.cfg.Accounts {
		if a.Name == name {
			return a.Kind
		}
	}
	return ""
}
