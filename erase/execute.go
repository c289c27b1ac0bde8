package erase

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"steward/certs"
	"steward/internal/audit"
	"steward/internal/catalog"
	"steward/internal/config"
	"steward/internal/crash"
	"steward/internal/errs"
	"steward/internal/keys"
	"steward/internal/objstore"
	"steward/internal/pgsql"
)

// Execution steps, in order. Each is a journal entry: written when it
// starts and when it ends, before the next one begins. A rerun skips the
// steps marked done and redoes the first unfinished one; within a step,
// targets already erased are not touched again.
const (
	StepInventory   = "inventory"
	StepFreeze      = "freeze"
	StepCryptoErase = "crypto-erase"
	StepDelete      = "logical-deletion"
	StepCredentials = "credentials"
	StepCatalog     = "catalog-purge"
	StepVerify      = "verify"
	StepMasterKey   = "master-key"
	StepCertificate = "certificate"
)

// MasterKeyTarget is the plan target of Steward's master key, destroyed in
// the master-key step: after verification, which still needs the sealed
// admin credentials, and before the certificate, which needs only the
// signing key.
const MasterKeyTarget = "master-key"

// Steps lists the execution steps in order.
var Steps = []string{StepInventory, StepFreeze, StepCryptoErase, StepDelete, StepCredentials, StepCatalog, StepVerify, StepMasterKey, StepCertificate}

// Journal results.
const (
	ResultDone   = "done"
	ResultFailed = "failed"
)

// Target results.
const (
	TargetErased    = "erased"
	TargetAbsent    = "already absent"
	TargetException = "exception"
	TargetFailed    = "failed"
)

// TargetResult is what a step did to one target.
type TargetResult struct {
	ID       string       `json:"id"`
	Started  string       `json:"started"`
	Finished string       `json:"finished"`
	Result   string       `json:"result"`
	Detail   string       `json:"detail,omitempty"`
	Deleted  certs.Counts `json:"deleted"`
}

// StepEvidence is a journal entry's evidence.
type StepEvidence struct {
	Targets []TargetResult `json:"targets,omitempty"`
	// Grew lists what the re-inventory found beyond the plan.
	Grew []string `json:"grew,omitempty"`
	// Certificate is the issued certificate (path and SHA-256).
	Certificate *Issued `json:"certificate,omitempty"`
	Note        string  `json:"note,omitempty"`
}

// Issued is a signed deletion certificate on disk.
type Issued struct {
	ID     string `json:"id"`
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
	Status string `json:"status"`
}

// ExecuteOptions says who executes and how.
type ExecuteOptions struct {
	As     string
	DryRun bool
	// Progress, when set, receives each step's start and end and each
	// target's result.
	Progress func(Event)
}

// Event is one line of progress.
type Event struct {
	Time   string `json:"time"`
	Step   string `json:"step"`
	Target string `json:"target,omitempty"`
	Result string `json:"result,omitempty"`
	Detail string `json:"detail,omitempty"`
}

// Outcome is what execute did: the plan's final journal and certificate.
type Outcome struct {
	Plan        *Plan                `json:"plan"`
	Journal     []catalog.JournalRow `json:"journal"`
	Certificate *Issued              `json:"certificate,omitempty"`
	// Exceptions lists targets not erased or not verified.
	Exceptions []string `json:"exceptions,omitempty"`
	// Grew (dry run) lists what the count found beyond the plan.
	Grew []string `json:"grew,omitempty"`
}

// ErrNotVerified means execution ended but some target was not erased or
// not verified: the certificate lists the exceptions.
var ErrNotVerified = errors.New("not every target was erased and verified")

// ErrGrew means the re-inventory found more than the plan counted.
var ErrGrew = errors.New("reality grew beyond the plan")

type execRun struct {
	e     *Eraser
	p     *Plan
	o     ExecuteOptions
	steps map[string]*catalog.JournalRow
}

// Execute runs plan id's journaled steps, resuming after the last
// finished one. It is refused before approval, during the cooling-off
// and after cancel. A certificate is issued once.
func (e *Eraser) Execute(ctx context.Context, id string, o ExecuteOptions) (*Outcome, error) {
	if o.As == "" {
		return nil, errs.Usage("--as: say who executes the plan")
	}
	p, err := e.Plan(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := e.CheckExecutable(p, e.clock.Now()); err != nil {
		e.rec.Record(ctx, "erase.execute", "plan:"+id, audit.ResultDenied, map[string]string{"by": o.As, "reason": err.Error()})
		return nil, err
	}
	if o.DryRun {
		return e.dryRun(ctx, p)
	}
	rows, err := e.store.Journal(ctx, id)
	if err != nil {
		return nil, err
	}
	x := &execRun{e: e, p: p, o: o, steps: map[string]*catalog.JournalRow{}}
	// No backup, drill or check may run while erasure does: one could
	// write to a repository or a scratch copy after erasure counted or
	// checked it. The locks are held until execute returns; a run holding
	// one now is named, and nothing is changed.
	release, err := x.lockRepositories(ctx)
	if err != nil {
		e.rec.Record(ctx, "erase.execute", "plan:"+id, audit.ResultDenied, map[string]string{"by": o.As, "reason": err.Error()})
		return nil, fmt.Errorf("erase plan %s: %w; nothing was changed: run `steward erase execute %s` again once that run has ended", id, err, id)
	}
	defer release()
	for i := range rows {
		x.steps[rows[i].Name] = &rows[i]
	}
	if p.Status == StatusApproved {
		p.Status = StatusExecuting
		if err := e.save(ctx, p); err != nil {
			return nil, err
		}
	}
	e.rec.Record(ctx, "erase.execute", "plan:"+id, audit.ResultStarted, map[string]string{"by": o.As, "hash": p.Hash, "resumed": fmt.Sprint(len(rows) > 0)})
	fns := map[string]func(context.Context, *StepEvidence) error{
		StepInventory: x.reinventory, StepFreeze: x.freeze, StepCryptoErase: x.cryptoErase, StepDelete: x.logicalDelete,
		StepCredentials: x.credentials, StepCatalog: x.purgeCatalog, StepVerify: x.verify, StepMasterKey: x.destroyMasterKey, StepCertificate: x.certificate,
	}
	for i, name := range Steps {
		if r := x.steps[name]; r != nil && r.Result == ResultDone {
			continue
		}
		if err := x.run(ctx, i+1, name, fns[name]); err != nil {
			e.rec.Record(ctx, "erase.execute", "plan:"+id, audit.ResultFailed, map[string]string{"by": o.As, "step": name, "error": err.Error()})
			return nil, fmt.Errorf("erase plan %s, step %s: %w (run `steward erase execute %s` again to resume from this step)", id, name, err, id)
		}
	}
	out, err := e.outcome(ctx, p)
	if err != nil {
		return nil, err
	}
	if p.Status != StatusDone {
		p.Status = StatusDone
		if err := e.save(ctx, p); err != nil {
			return nil, err
		}
		details := map[string]string{"by": o.As, "hash": p.Hash, "exceptions": fmt.Sprint(len(out.Exceptions))}
		if out.Certificate != nil {
			details["certificate"], details["certificate_sha256"] = out.Certificate.ID, out.Certificate.SHA256
		}
		e.rec.Record(ctx, "erase.execute", "plan:"+id, audit.ResultOK, details)
	}
	if len(out.Exceptions) > 0 {
		return out, fmt.Errorf("%w: %s", ErrNotVerified, strings.Join(out.Exceptions, "; "))
	}
	return out, nil
}

// run runs one step: its journal entry is written started, then
// finished with its result and evidence.
func (x *execRun) run(ctx context.Context, n int, name string, fn func(context.Context, *StepEvidence) error) error {
	row := x.steps[name]
	if row == nil {
		row = &catalog.JournalRow{PlanID: x.p.ID, Step: n, Name: name}
		x.steps[name] = row
	}
	var ev StepEvidence
	if len(row.Evidence) > 0 {
		_ = json.Unmarshal(row.Evidence, &ev) // a resumed step keeps what it did
	}
	row.Started, row.Finished, row.Result = x.e.now(), "", ""
	if err := x.put(ctx, row, &ev); err != nil {
		return err
	}
	x.emit(Event{Step: name, Detail: "started"})
	crash.At(crash.EraseStep, name)
	err := fn(ctx, &ev)
	row.Finished, row.Result = x.e.now(), ResultDone
	if err != nil {
		row.Result, ev.Note = ResultFailed, err.Error()
	}
	if perr := x.put(ctx, row, &ev); perr != nil && err == nil {
		err = perr
	}
	x.emit(Event{Step: name, Result: row.Result})
	if x.e.stepDone != nil {
		x.e.stepDone(ctx, x.p.ID, name, row.Result, err)
	}
	return err
}

func (x *execRun) put(ctx context.Context, row *catalog.JournalRow, ev *StepEvidence) error {
	b, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	row.Evidence = b
	return x.e.store.PutJournal(ctx, *row)
}

func (x *execRun) emit(ev Event) {
	if x.o.Progress != nil {
		ev.Time = x.e.now()
		x.o.Progress(ev)
	}
}

// targets runs do on each of the plan's targets that pick selects and
// that the step has not finished yet, saving the evidence after each.
func (x *execRun) targets(ctx context.Context, step string, ev *StepEvidence, pick func(Target) bool, do func(context.Context, Target) (TargetResult, error)) error {
	var failed []string
	for _, t := range x.p.Targets {
		if !pick(t) {
			continue
		}
		i := slices.IndexFunc(ev.Targets, func(r TargetResult) bool { return r.ID == t.ID })
		if i >= 0 && (ev.Targets[i].Result == TargetErased || ev.Targets[i].Result == TargetAbsent || ev.Targets[i].Result == TargetException) {
			continue // done before a crash
		}
		started := x.e.now()
		r, err := do(ctx, t)
		r.ID, r.Started, r.Finished = t.ID, started, x.e.now()
		if err != nil {
			r.Result, r.Detail = TargetFailed, err.Error()
			failed = append(failed, t.ID+": "+err.Error())
		}
		if i >= 0 {
			ev.Targets[i] = r
		} else {
			ev.Targets = append(ev.Targets, r)
		}
		if err := x.put(ctx, x.steps[step], ev); err != nil {
			return err
		}
		x.emit(Event{Step: step, Target: t.ID, Result: r.Result, Detail: r.Detail})
		crash.At(crash.EraseTarget, step)
	}
	if len(failed) > 0 {
		return errors.New(strings.Join(failed, "; "))
	}
	return nil
}

// reinventory counts again; anything beyond the plan (a new target, more
// key files, snapshots, versions, files or tables) stops execution.
func (x *execRun) reinventory(ctx context.Context, ev *StepEvidence) error {
	inv, err := x.e.inventory(ctx)
	if err != nil {
		return err
	}
	var uncounted []string
	for _, t := range inv.targets {
		if t.Error != "" {
			uncounted = append(uncounted, t.ID+": "+t.Error)
		}
	}
	if len(uncounted) > 0 {
		return fmt.Errorf("cannot count again, so cannot tell whether reality grew beyond the plan: %s", strings.Join(uncounted, "; "))
	}
	ev.Grew = compareInventory(x.p, inv)
	if len(ev.Grew) > 0 {
		return fmt.Errorf("%w: %s; cancel this plan and make a new one", ErrGrew, strings.Join(ev.Grew, "; "))
	}
	return nil
}

// compareInventory lists what inv holds beyond plan p: a new target, or
// more of something (the cache and the tmp folder aside, which Steward
// itself writes).
func compareInventory(p *Plan, inv *inventory) []string {
	planned := map[string]Target{}
	for _, t := range p.Targets {
		planned[t.ID] = t
	}
	var out []string
	for _, t := range inv.targets {
		old, ok := planned[t.ID]
		switch {
		case t.Absent || t.Kind == certs.KindCache || t.ID == tmpTarget:
		case !ok:
			out = append(out, fmt.Sprintf("%s is new (%s)", t.ID, t.Location))
		case grew(old.Before, t.Before):
			out = append(out, fmt.Sprintf("%s: counted %s, planned %s", t.ID, countsText(t.Before), countsText(old.Before)))
		}
	}
	return out
}

func grew(plan, now certs.Counts) bool {
	return now.Files > plan.Files || now.Objects > plan.Objects || now.Versions > plan.Versions ||
		now.DeleteMarkers > plan.DeleteMarkers || now.Tables > plan.Tables || now.UnfinishedUploads > plan.UnfinishedUploads
}

func countsText(c certs.Counts) string {
	return fmt.Sprintf("%d files, %d objects, %d versions, %d markers, %d uploads, %d tables, %d bytes",
		c.Files, c.Objects, c.Versions, c.DeleteMarkers, c.UnfinishedUploads, c.Tables, c.Bytes)
}

// lockRepositories takes every configured repository's lock (see
// repo.Opener.Lock), refusing at once, naming the holder, when a Steward
// run holds one.
func (x *execRun) lockRepositories(ctx context.Context) (func(), error) {
	names := make([]string, len(x.e.cfg.Repositories))
	for i, r := range x.e.cfg.Repositories {
		names[i] = r.Name
	}
	return x.e.repos.Lock(ctx, names)
}

func (x *execRun) freeze(ctx context.Context, ev *StepEvidence) error {
	ev.Note = "backups, drills and restores of the contract are refused from now on"
	return x.e.freeze(ctx, x.p)
}

// cryptoErase deletes every restic key file of every repository (on S3,
// every version of each) and destroys every sealed repository password:
// what no one can open any more is unreadable wherever a copy of it is.
func (x *execRun) cryptoErase(ctx context.Context, ev *StepEvidence) error {
	return x.targets(ctx, StepCryptoErase, ev, func(t Target) bool {
		return t.Kind == certs.KindRepositoryKey || (t.Kind == certs.KindSealedSecret && t.ID != MasterKeyTarget)
	}, func(ctx context.Context, t Target) (TargetResult, error) {
		if t.Kind == certs.KindSealedSecret {
			return destroyFile(t.Location)
		}
		r, err := x.e.eraseRepo(t.Name)
		if err != nil {
			return TargetResult{}, err
		}
		if r.S3 == nil {
			dir := filepath.Join(r.Config.Local.Path, "keys")
			ents, err := os.ReadDir(dir)
			if errors.Is(err, fs.ErrNotExist) {
				return TargetResult{Result: TargetAbsent}, nil
			}
			if err != nil {
				return TargetResult{}, err
			}
			res := TargetResult{Result: TargetErased}
			for _, ent := range ents {
				if err := keys.Destroy(filepath.Join(dir, ent.Name())); err != nil {
					return res, err
				}
				res.Deleted.Files++
			}
			if res.Deleted.Files == 0 {
				res.Result = TargetAbsent
			}
			return res, nil
		}
		return x.emptyPrefix(ctx, t, r.S3.WithBucket(r.Target.Bucket, keyPrefix(r.Target.Prefix)))
	})
}

func keyPrefix(prefix string) string {
	p := strings.Trim(prefix, "/")
	if p != "" {
		p += "/"
	}
	return p + "keys/"
}

func destroyFile(path string) (TargetResult, error) {
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return TargetResult{Result: TargetAbsent}, nil
	}
	if err != nil {
		return TargetResult{}, err
	}
	if err := keys.Destroy(path); err != nil {
		return TargetResult{}, err
	}
	return TargetResult{Result: TargetErased, Detail: "overwritten three times, then removed", Deleted: certs.Counts{Files: 1, Bytes: st.Size()}}, nil
}

// emptyPrefix deletes every version, delete marker and upload under a
// client's prefix.
func (x *execRun) emptyPrefix(ctx context.Context, t Target, c *objstore.Client) (TargetResult, error) {
	return x.purge(ctx, t, c, false)
}

// removeBucket deletes every version, marker and upload of a bucket, then
// the bucket.
func (x *execRun) removeBucket(ctx context.Context, t Target, c *objstore.Client) (TargetResult, error) {
	return x.purge(ctx, t, c, true)
}

// purge runs objstore.Purge. Versions an object lock keeps (compliance
// retention, legal hold; governance retention unless
// erase.allow_governance_bypass) are an exception, not a failure:
// everything else is deleted, the bucket stays, and the certificate says
// so. Every version deleted is appended to the plan's object list (the
// evidence's "objects") as the server confirms it.
func (x *execRun) purge(ctx context.Context, t Target, c *objstore.Client, bucket bool) (TargetResult, error) {
	bypass := x.e.cfg.Erase.AllowGovernanceBypass
	path := x.e.dir.EraseObjects(x.p.ID)
	before, err := recordedFor(path, t.ID)
	if err != nil {
		return TargetResult{}, err
	}
	list, err := openObjectList(path)
	if err != nil {
		return TargetResult{}, err
	}
	rm, err := c.Purge(ctx, objstore.PurgeOptions{RemoveBucket: bucket, GovernanceBypass: bypass,
		Deleted: func(v objstore.Version) error { return list.add(t.ID, v) }})
	if cerr := list.close(); err == nil && cerr != nil {
		err = cerr
	}
	res := TargetResult{Result: TargetErased,
		Deleted: certs.Counts{Versions: int64(rm.Versions), DeleteMarkers: int64(rm.DeleteMarkers), UnfinishedUploads: int64(rm.UnfinishedUploads), Bytes: rm.Bytes}}
	var notes []string
	if bucket {
		notes = append(notes, "every version, delete marker and unfinished upload, then the bucket")
	}
	if bypass {
		notes = append(notes, "governance-retained versions deleted with bypass (erase.allow_governance_bypass)")
	}
	if rm.AlreadyAbsent || (!bucket && rm.Versions+rm.DeleteMarkers+rm.UnfinishedUploads == 0 && rm.ExceptionCount == 0) {
		res.Result, notes = TargetAbsent, nil
	}
	if before > 0 {
		notes = append(notes, fmt.Sprintf("resumed: an earlier attempt that stopped had deleted and listed %d versions; had it been killed, the object list may lack up to %d it deleted last", before, objectSyncEvery))
	}
	if errors.Is(err, objstore.ErrRetained) {
		var kept []string
		for i, e := range rm.Exceptions {
			if i == 5 {
				kept = append(kept, fmt.Sprintf("and %d more", rm.ExceptionCount-5))
				break
			}
			k := fmt.Sprintf("key sha256:%s version %q: %s", e.KeySHA256, e.VersionID, e.Reason)
			if !e.RetainUntil.IsZero() {
				k += " until " + x.e.clock.Format(e.RetainUntil)
			}
			kept = append(kept, k)
		}
		res.Result = TargetException
		notes = append(notes, fmt.Sprintf("%d versions kept by object lock, cannot be deleted: %s", rm.ExceptionCount, strings.Join(kept, "; ")))
		err = nil
	}
	res.Detail = strings.Join(notes, "; ")
	return res, err
}

// tmpTarget is Steward's own tmp folder: emptied, not removed (the
// certificate is rendered through it).
const tmpTarget = "scratch:steward-tmp"

// emptyDir removes everything in dir, keeping dir.
func emptyDir(dir string) (TargetResult, error) {
	c, err := countTree(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return TargetResult{Result: TargetAbsent}, nil
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return TargetResult{}, err
	}
	for _, ent := range ents {
		if err := os.RemoveAll(filepath.Join(dir, ent.Name())); err != nil {
			return TargetResult{}, err
		}
	}
	res := TargetResult{Result: TargetErased, Detail: "emptied", Deleted: c}
	if len(ents) == 0 {
		res.Result = TargetAbsent
	}
	return res, nil
}

func removeTree(path string) (TargetResult, error) {
	c, err := countTree(path)
	if errors.Is(err, fs.ErrNotExist) {
		return TargetResult{Result: TargetAbsent}, nil
	}
	if err := os.RemoveAll(path); err != nil {
		return TargetResult{}, err
	}
	return TargetResult{Result: TargetErased, Deleted: c}, nil
}

// logicalDelete deletes the repositories, the sources, restic's cache,
// drill scratch leftovers and Steward's temporary files.
func (x *execRun) logicalDelete(ctx context.Context, ev *StepEvidence) error {
	return x.targets(ctx, StepDelete, ev, func(t Target) bool {
		switch t.Kind {
		case certs.KindRepositoryLocal, certs.KindRepositoryS3, certs.KindPath, certs.KindPostgres, certs.KindS3Bucket, certs.KindCache, certs.KindScratch:
			return true
		}
		return false
	}, func(ctx context.Context, t Target) (TargetResult, error) {
		switch {
		case t.Kind == certs.KindRepositoryS3:
			r, err := x.e.eraseRepo(t.Name)
			if err != nil {
				return TargetResult{}, err
			}
			if strings.Trim(r.Target.Prefix, "/") != "" {
				return x.emptyPrefix(ctx, t, r.S3.WithBucket(r.Target.Bucket, strings.Trim(r.Target.Prefix, "/")+"/"))
			}
			return x.removeBucket(ctx, t, r.S3.WithBucket(r.Target.Bucket, ""))
		case t.Kind == certs.KindS3Bucket:
			c, err := x.e.bucketClient(t)
			if err != nil {
				return TargetResult{}, err
			}
			return x.removeBucket(ctx, t, c)
		case t.Kind == certs.KindPostgres:
			return x.dropDatabase(ctx, t)
		case t.ID == tmpTarget:
			return emptyDir(t.Location)
		}
		return removeTree(t.Location)
	})
}

// bucketClient is a client for a source or scratch bucket target, with
// the erase keys.
func (e *Eraser) bucketClient(t Target) (*objstore.Client, error) {
	if name, ok := strings.CutPrefix(t.ID, "scratch-bucket:"); ok {
		tg, err := e.repos.S3Target("drills.scratch.s3", e.cfg.Drills.Scratch.S3)
		if err != nil {
			return nil, err
		}
		tg.Bucket, tg.Prefix = name, ""
		return objstore.New(tg)
	}
	c, _, err := e.sourceBucket(t.Name)
	return c, err
}

// database is the login, password and name of a database target.
func (e *Eraser) database(t Target) (*config.PostgresSource, keys.Secret, string, error) {
	if name, ok := strings.CutPrefix(t.ID, "scratch-database:"); ok {
		server, pw, err := e.scratchDatabase()
		return server, pw, name, err
	}
	return e.sourceDatabase(t.Name)
}

func (x *execRun) dropDatabase(ctx context.Context, t Target) (TargetResult, error) {
	server, pw, name, err := x.e.database(t)
	if err != nil {
		return TargetResult{}, err
	}
	exists, err := pgsql.DatabaseExists(ctx, server, pw, name)
	if err != nil {
		return TargetResult{}, err
	}
	if !exists {
		return TargetResult{Result: TargetAbsent}, nil
	}
	if err := pgsql.DropDatabase(ctx, server, pw, name); err != nil {
		return TargetResult{}, err
	}
	return TargetResult{Result: TargetErased, Detail: "its connections ended, then the database was dropped", Deleted: t.Before}, nil
}

// credentials revokes the special accounts.
func (x *execRun) credentials(ctx context.Context, ev *StepEvidence) error {
	return x.targets(ctx, StepCredentials, ev, func(t Target) bool { return t.Kind == certs.KindAccount }, func(ctx context.Context, t Target) (TargetResult, error) {
		return x.revoke(ctx, t)
	})
}

// purgeCatalog deletes every manifest (they name files, tables and
// objects) from Steward's catalog. The audit log holds ids and hashes only.
func (x *execRun) purgeCatalog(ctx context.Context, ev *StepEvidence) error {
	return x.targets(ctx, StepCatalog, ev, func(t Target) bool { return t.Kind == certs.KindCatalog }, func(ctx context.Context, t Target) (TargetResult, error) {
		n, err := x.e.purge(ctx)
		if err != nil {
			return TargetResult{}, err
		}
		return TargetResult{Result: TargetErased, Detail: "manifests deleted from the catalog", Deleted: certs.Counts{Objects: n}}, nil
	})
}

func (e *Eraser) purge(ctx context.Context) (int64, error) {
	if e.purgeManifests == nil {
		return 0, errors.New("the catalog's manifests cannot be purged")
	}
	return e.purgeManifests(ctx)
}

// issueTime is the time the certificate is issued.
func (x *execRun) issueTime() time.Time { return x.e.clock.Now() }

// destroyMasterKey destroys Steward's master key (keys.DestroyMaster):
// every sealed: value of the config — the contract's credentials, in
// every copy of the config wherever it is kept — can no longer be opened.
// It then checks that: the file is gone and the key no longer opens.
func (x *execRun) destroyMasterKey(ctx context.Context, ev *StepEvidence) error {
	return x.targets(ctx, StepMasterKey, ev, func(t Target) bool { return t.ID == MasterKeyTarget }, func(ctx context.Context, t Target) (TargetResult, error) {
		res := TargetResult{Result: TargetAbsent}
		if st, err := os.Stat(t.Location); err == nil {
			res = TargetResult{Result: TargetErased, Deleted: certs.Counts{Files: 1, Bytes: st.Size()}}
		}
		note := fmt.Sprintf("by erase plan %s, step %s, at %s", x.p.ID, StepMasterKey, x.e.now())
		if err := keys.DestroyMaster(x.e.dir.Root(), note); err != nil {
			return TargetResult{}, err
		}
		detail, err := masterKeyGone(x.e.dir.Root(), t.Location)
		if err != nil {
			return TargetResult{}, err
		}
		res.Detail = "overwritten three times, then removed; " + detail
		return res, nil
	})
}

// masterKeyGone checks that the master key file is absent and that
// Steward refuses to open sealed values.
func masterKeyGone(stateDir, path string) (string, error) {
	detail, err := absent(path)
	if err != nil {
		return "", err
	}
	if _, err := keys.Open(stateDir); !errors.Is(err, keys.ErrMasterKeyDestroyed) {
		return "", fmt.Errorf("the master key still opens: %v", err)
	}
	return detail + "; sealed values no longer open", nil
}

// certificate builds the evidence bundle from the plan and the journal
// and has it signed as the deletion certificate.
func (x *execRun) certificate(ctx context.Context, ev *StepEvidence) error {
	if ev.Certificate != nil {
		return nil // issued before a crash
	}
	if x.e.sign == nil {
		return errors.New("no signer: the deletion certificate cannot be issued")
	}
	bundle, err := x.e.evidence(ctx, x.p, x.o.As, x.issueTime())
	if err != nil {
		return err
	}
	file := "deletion-certificate-" + bundle.CertificateID + ".pdf"
	req := SignRequest{
		File: file, Reason: "データ消去証明書 / Deletion certificate " + bundle.CertificateID,
		Action: "erase.certificate", Target: "plan:" + x.p.ID,
		Details: map[string]string{"certificate": bundle.CertificateID, "status": bundle.Status()},
		Render: func(w io.Writer, o certs.RenderOptions) (*certs.Rendered, error) {
			return certs.IssueCertificate(w, bundle, o)
		},
	}
	if b, err := os.ReadFile(filepath.Join(x.e.dir.Reports(), file)); err == nil {
		// Signed and filed by a run killed before its journal entry said
		// so: that one is the certificate, never a second. Killed before
		// its audit record too (crash point certs.pdf-written), it is
		// recorded now, as the run would have: the audit record and the
		// report anchor of the audit head it carries.
		adopt := req
		adopt.Filed = strings.TrimSuffix(file, ".pdf")
		path, sum, err := x.e.sign(ctx, adopt)
		if err != nil {
			return err
		}
		ev.Note = "signed and filed by an earlier, interrupted run, which had recorded it"
		if path == "" {
			h := sha256.Sum256(b)
			path, sum = filepath.Join(x.e.dir.Reports(), file), hex.EncodeToString(h[:])
		} else {
			ev.Note = "signed and filed by an earlier, interrupted run, which had not recorded it: recorded now"
		}
		ev.Certificate = &Issued{ID: bundle.CertificateID, Path: path, SHA256: sum, Status: bundle.Status()}
		return nil
	}
	path, sum, err := x.e.sign(ctx, req)
	if err != nil {
		return err
	}
	ev.Certificate = &Issued{ID: bundle.CertificateID, Path: path, SHA256: sum, Status: bundle.Status()}
	return nil
}

// SignRequest asks the app to render, sign and file a PDF.
type SignRequest struct {
	File, Reason, Action, Target string
	// Filed, when set, only adopts a report of the subject filed but not
	// recorded (the file-name prefix of its reports): see app's
	// SignedReport.Filed. The path is empty when there was none to adopt.
	Filed   string
	Details map[string]string
	Render  func(io.Writer, certs.RenderOptions) (*certs.Rendered, error)
}

// Outcome is plan id with its journal, certificate and exceptions so far.
func (e *Eraser) Outcome(ctx context.Context, id string) (*Outcome, error) {
	p, err := e.Plan(ctx, id)
	if err != nil {
		return nil, err
	}
	return e.outcome(ctx, p)
}

// outcome reads the journal back.
func (e *Eraser) outcome(ctx context.Context, p *Plan) (*Outcome, error) {
	rows, err := e.store.Journal(ctx, p.ID)
	if err != nil {
		return nil, err
	}
	out := &Outcome{Plan: p, Journal: rows}
	for _, r := range rows {
		var ev StepEvidence
		_ = json.Unmarshal(r.Evidence, &ev)
		if r.Name == StepCertificate && ev.Certificate != nil {
			out.Certificate = ev.Certificate
		}
		if r.Name == StepVerify {
			for _, t := range ev.Targets {
				if t.Result != Verified {
					out.Exceptions = append(out.Exceptions, t.ID+": "+t.Detail)
				}
			}
		}
	}
	return out, nil
}

// dryRun says what execute would do, changing nothing: it counts again
// and says whether reality grew beyond the plan; the steps and targets
// are the plan's.
func (e *Eraser) dryRun(ctx context.Context, p *Plan) (*Outcome, error) {
	out, err := e.outcome(ctx, p)
	if err != nil {
		return nil, err
	}
	inv, err := e.inventory(ctx)
	if err != nil {
		return nil, err
	}
	out.Grew = compareInventory(p, inv)
	return out, nil
}
