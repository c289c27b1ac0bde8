package erase

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"steward/certs"
	"steward/internal/config"
	"steward/internal/objstore"
	"steward/internal/pgsql"
	"steward/internal/repo"
	"steward/internal/state"
)

// inventory is what a plan counts.
type inventory struct {
	targets []Target
	found   []Found
}

// inventory counts, now, everything that holds contract data or grants
// access to it, in the order execute erases it: repository keys and
// sealed passwords (crypto-erase), repositories and replicas, the
// sources, restic's cache, drill scratch leftovers, Steward's temporary
// files, special accounts and the catalog's manifests. A target that
// cannot be counted carries its error (the plan then cannot be approved);
// nothing is changed.
func (e *Eraser) inventory(ctx context.Context) (*inventory, error) {
	inv := &inventory{}
	add := func(t Target) { inv.targets = append(inv.targets, t) }

	// Repositories: their key files and sealed passwords first, then
	// their contents.
	for _, rc := range e.cfg.Repositories {
		add(e.countKeys(ctx, rc.Name))
	}
	for _, rc := range e.cfg.Repositories {
		add(e.countSealed(rc.Name))
	}
	for _, rc := range e.cfg.Repositories {
		add(e.countRepository(ctx, rc.Name))
	}
	for i := range e.cfg.Sources {
		add(e.countSource(ctx, &e.cfg.Sources[i]))
	}
	add(e.countLocalDir(certs.KindCache, "restic-cache", "cache", e.dir.ResticCache()))
	scratch, found := e.countScratch(ctx)
	inv.targets = append(inv.targets, scratch...)
	inv.found = append(inv.found, found...)
	add(e.countLocalDir(certs.KindScratch, "steward-tmp", "temporary files", e.dir.Tmp()))
	for _, a := range e.cfg.Accounts {
		add(Target{ID: "account:" + a.Name, Kind: certs.KindAccount, Name: a.Name, Location: a.Kind + " " + a.ID + " (" + a.Target + ")",
			Role: "special account", Access: "unknown: checked when it is revoked"})
	}
	add(e.countCatalog(ctx))
	add(e.countMasterKey())
	inv.found = append(inv.found, e.foundBuckets(ctx)...)
	return inv, nil
}

func (e *Eraser) countKeys(ctx context.Context, name string) Target {
	t := Target{ID: "repository-key:" + name, Kind: certs.KindRepositoryKey, Name: name, Role: e.repoRole(name)}
	r, err := e.eraseRepo(name)
	if err != nil {
		t.Error = err.Error()
		return t
	}
	t.Location = r.Restic.Location
	ids, err := e.repos.KeyFiles(ctx, r)
	if err != nil {
		t.Error = err.Error()
		return t
	}
	t.Before.Files = int64(len(ids))
	t.Absent = len(ids) == 0
	t.Access = e.access(ctx, r)
	return t
}

func (e *Eraser) countSealed(name string) Target {
	p := e.dir.SealedPassword(name)
	return countFile(Target{ID: "sealed-password:" + name, Kind: certs.KindSealedSecret, Name: name, Location: p, Role: "sealed repository password"})
}

// countFile counts the one file at t.Location.
func countFile(t Target) Target {
	st, err := os.Stat(t.Location)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		t.Absent = true
	case err != nil:
		t.Error = err.Error()
	default:
		t.Before.Files, t.Before.Bytes = 1, st.Size()
	}
	t.Access = localAccess(t.Location)
	return t
}

// countMasterKey is Steward's master key: it opens every sealed: value of
// the config, the contract's credentials among them. It goes last, after
// verification (see StepMasterKey).
func (e *Eraser) countMasterKey() Target {
	return countFile(Target{ID: MasterKeyTarget, Kind: certs.KindSealedSecret, Name: "master.key", Location: e.dir.MasterKey(),
		Role: "Steward's master key (opens every sealed: value of the config)"})
}

func (e *Eraser) repoRole(name string) string {
	for _, j := range e.cfg.Jobs {
		if slices.Contains(j.Replicas, name) {
			return "replica"
		}
	}
	return "repository"
}

func (e *Eraser) countRepository(ctx context.Context, name string) Target {
	t := Target{ID: "repository:" + name, Name: name, Role: e.repoRole(name)}
	r, err := e.eraseRepo(name)
	if err != nil {
		t.Kind, t.Error = certs.KindRepositoryLocal, err.Error()
		return t
	}
	t.Location = r.Restic.Location
	if r.S3 == nil {
		t.Kind = certs.KindRepositoryLocal
		c, err := countTree(r.Config.Local.Path)
		t.Before, t.Absent = c, errors.Is(err, fs.ErrNotExist)
		if err != nil && !t.Absent {
			t.Error = err.Error()
		}
		t.Access = localAccess(r.Config.Local.Path)
		return t
	}
	t.Kind, t.Region = certs.KindRepositoryS3, r.Target.Region
	t.Before, t.Absent, err = countBucket(ctx, r.S3)
	if err != nil {
		t.Error = err.Error()
	}
	t.Access = e.access(ctx, r)
	return t
}

// access says whether the key a repository is erased with may delete.
func (e *Eraser) access(ctx context.Context, r *repo.Repo) string {
	if r.S3 == nil {
		return localAccess(r.Config.Local.Path)
	}
	return bucketAccess(ctx, r.S3)
}

func (e *Eraser) countSource(ctx context.Context, s *config.Source) Target {
	switch {
	case s.Path != nil:
		t := e.countLocalDir(certs.KindPath, s.Name, "source", s.Path.Path)
		t.ID = "path:" + s.Name
		return t
	case s.Postgres != nil:
		pg := s.Postgres
		t := Target{ID: "database:" + s.Name, Kind: certs.KindPostgres, Name: s.Name, Role: "source",
			Location: fmt.Sprintf("%s:%d/%s", pg.Host, pg.Port, pg.Database)}
		server, pw, db, err := e.sourceDatabase(s.Name)
		if err != nil {
			t.Error = err.Error()
			return t
		}
		st, err := pgsql.Stats(ctx, server, pw, db)
		if err != nil {
			t.Error = err.Error()
			return t
		}
		t.Absent = !st.Exists
		t.Before.Bytes, t.Before.Tables = st.Bytes, st.Tables
		t.Access = "denied: " + st.Why
		if st.CanDrop || !st.Exists {
			t.Access = "ok: " + st.Why
		}
		return t
	default:
		t := Target{ID: "bucket:" + s.Name, Kind: certs.KindS3Bucket, Name: s.Name, Role: "source"}
		c, tg, err := e.sourceBucket(s.Name)
		if err != nil {
			t.Error = err.Error()
			return t
		}
		t.Location, t.Region = tg.URL()+"/"+tg.Bucket, tg.Region
		t.Before, t.Absent, err = countBucket(ctx, c)
		if err != nil {
			t.Error = err.Error()
		}
		t.Access = bucketAccess(ctx, c)
		return t
	}
}

func sourceField(cfg *config.Config, name string) string {
	for i, s := range cfg.Sources {
		if s.Name == name {
			return fmt.Sprintf("sources[%d]", i)
		}
	}
	return "sources"
}

// countLocalDir counts the files and bytes under a local directory.
func (e *Eraser) countLocalDir(kind certs.TargetKind, name, role, path string) Target {
	t := Target{ID: string(kind) + ":" + name, Kind: kind, Name: name, Location: path, Role: role}
	c, err := countTree(path)
	t.Before, t.Absent = c, errors.Is(err, fs.ErrNotExist)
	if err != nil && !t.Absent {
		t.Error = err.Error()
	}
	t.Access = localAccess(path)
	return t
}

// countTree counts the regular files, symlinks and bytes under path.
func countTree(path string) (certs.Counts, error) {
	var c certs.Counts
	if _, err := os.Lstat(path); err != nil {
		return c, err
	}
	err := filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		c.Files++
		if info.Mode().IsRegular() {
			c.Bytes += info.Size()
		}
		return nil
	})
	return c, err
}

// localAccess says whether this process may delete path (write access to
// its parent directory, and to path itself when it is a directory).
func localAccess(path string) string {
	dirs := []string{filepath.Dir(path)}
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		dirs = append(dirs, path)
	}
	for _, d := range dirs {
		if _, err := os.Stat(d); errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err := unix.Access(d, unix.W_OK|unix.X_OK); err != nil {
			return fmt.Sprintf("denied: this user may not write %s (%v)", d, err)
		}
	}
	return "ok: this user may write where it is"
}

// countBucket counts every version, delete marker and unfinished upload
// under the client's bucket and prefix, streaming the listing.
func countBucket(ctx context.Context, c *objstore.Client) (certs.Counts, bool, error) {
	var n certs.Counts
	ok, err := c.Exists(ctx)
	if err != nil || !ok {
		return n, !ok && err == nil, err
	}
	err = c.ListVersions(ctx, func(v objstore.Version) error {
		switch {
		case v.IsDeleteMarker:
			n.DeleteMarkers++
		default:
			n.Versions++
			n.Bytes += v.Size
			if v.IsLatest {
				n.Objects++
			}
		}
		return nil
	})
	if err != nil {
		return n, false, err
	}
	err = c.ListUploads(ctx, func(objstore.Upload) error {
		n.UnfinishedUploads++
		return nil
	})
	return n, false, err
}

func bucketAccess(ctx context.Context, c *objstore.Client) string {
	ok, why, err := c.MayDelete(ctx)
	switch {
	case err != nil:
		return "unknown: " + err.Error()
	case ok:
		return "ok: " + why
	}
	return "denied: " + why
}

// countScratch counts drill scratch leftovers: scratch directories in
// drills.scratch.dir, steward_drill_* databases on the drill scratch
// server and scratch buckets. A leftover of a drill the catalog knows is
// planned; one of an unknown drill is found, not planned.
func (e *Eraser) countScratch(ctx context.Context) ([]Target, []Found) {
	var targets []Target
	var found []Found
	known := func(id string) bool {
		_, err := e.store.Drill(ctx, id)
		return err == nil
	}
	if dir := e.cfg.Drills.Scratch.Dir; dir != "" {
		ents, _ := os.ReadDir(dir)
		for _, ent := range ents {
			id, ok := strings.CutPrefix(ent.Name(), state.ScratchDirPrefix)
			if !ok || !ent.IsDir() {
				continue
			}
			p := filepath.Join(dir, ent.Name())
			if !known(id) {
				found = append(found, Found{Kind: certs.KindScratch, Name: ent.Name(), Location: p, Why: "a drill scratch directory of a drill the catalog does not know"})
				continue
			}
			t := e.countLocalDir(certs.KindScratch, ent.Name(), "drill scratch leftover", p)
			targets = append(targets, t)
		}
	}
	if pg := e.cfg.Drills.Scratch.Postgres; pg != nil {
		pw, err := e.repos.PostgresPassword("drills.scratch.postgres", pg)
		var names []string
		if err == nil {
			names, err = pgsql.ListDatabases(ctx, pg, pw, state.ScratchDatabasePrefix)
		}
		if err != nil {
			targets = append(targets, Target{ID: "scratch-databases", Kind: certs.KindScratch, Name: "drill scratch databases",
				Location: fmt.Sprintf("%s:%d", pg.Host, pg.Port), Role: "drill scratch leftover", Error: err.Error()})
		}
		for _, name := range names {
			loc := fmt.Sprintf("%s:%d/%s", pg.Host, pg.Port, name)
			if !e.knownScratchDatabase(ctx, name) {
				found = append(found, Found{Kind: certs.KindPostgres, Name: name, Location: loc, Why: "a drill scratch database of a drill the catalog does not know"})
				continue
			}
			t := Target{ID: "scratch-database:" + name, Kind: certs.KindPostgres, Name: name, Location: loc, Role: "drill scratch leftover"}
			st, err := pgsql.Stats(ctx, pg, pw, name)
			if err != nil {
				t.Error = err.Error()
			} else {
				t.Absent, t.Before.Bytes, t.Before.Tables = !st.Exists, st.Bytes, st.Tables
				t.Access = map[bool]string{true: "ok: ", false: "denied: "}[st.CanDrop] + st.Why
			}
			targets = append(targets, t)
		}
	}
	if s3 := e.cfg.Drills.Scratch.S3; s3 != nil {
		tg, err := e.repos.S3Target("drills.scratch.s3", s3)
		var c *objstore.Client
		if err == nil {
			c, err = objstore.New(tg)
		}
		var names []string
		if err == nil {
			names, err = c.ListBuckets(ctx, s3.Bucket+"-")
		}
		if err != nil {
			targets = append(targets, Target{ID: "scratch-buckets", Kind: certs.KindScratch, Name: "drill scratch buckets",
				Location: s3.Endpoint, Role: "drill scratch leftover", Error: err.Error()})
		}
		for _, name := range names {
			bc := c.WithBucket(name, "")
			t := Target{ID: "scratch-bucket:" + name, Kind: certs.KindS3Bucket, Name: name, Location: tg.URL() + "/" + name, Region: tg.Region, Role: "drill scratch leftover"}
			if !known(strings.TrimPrefix(name, s3.Bucket+"-")) {
				found = append(found, Found{Kind: t.Kind, Name: name, Location: t.Location, Why: "a drill scratch bucket of a drill the catalog does not know"})
				continue
			}
			t.Before, t.Absent, err = countBucket(ctx, bc)
			if err != nil {
				t.Error = err.Error()
			}
			t.Access = bucketAccess(ctx, bc)
			targets = append(targets, t)
		}
	}
	return targets, found
}

// knownScratchDatabase reports whether a steward_drill_* database belongs
// to a drill the catalog knows (its id with "-" made "_").
func (e *Eraser) knownScratchDatabase(ctx context.Context, name string) bool {
	drills, err := e.store.Drills(ctx, 0)
	if err != nil {
		return false
	}
	for _, d := range drills {
		if state.ScratchDatabasePrefix+strings.ReplaceAll(d.ID, "-", "_") == name {
			return true
		}
	}
	return false
}

// countCatalog counts the catalog's contract data (manifests).
func (e *Eraser) countCatalog(ctx context.Context) Target {
	t := Target{ID: "catalog:manifests", Kind: certs.KindCatalog, Name: "catalog manifests", Location: e.dir.Catalog(), Role: "Steward's catalog",
		Access: "ok: Steward's own catalog"}
	if e.manifests == nil {
		t.Error = "the catalog's manifests cannot be counted"
		return t
	}
	n, err := e.manifests(ctx)
	if err != nil {
		t.Error = err.Error()
	}
	t.Before.Objects = n
	return t
}

// foundBuckets lists other buckets, on the endpoints of the configured
// buckets, whose name carries the contract id: found, not planned.
func (e *Eraser) foundBuckets(ctx context.Context) []Found {
	id := strings.ToLower(e.cfg.Contract.ID)
	if id == "" {
		return nil
	}
	planned := map[string]bool{}
	var targets []*config.S3Target
	for i := range e.cfg.Repositories {
		if s := e.cfg.Repositories[i].S3; s != nil {
			targets, planned[s.Endpoint+"/"+s.Bucket] = append(targets, s), true
		}
	}
	for i := range e.cfg.Sources {
		if s := e.cfg.Sources[i].S3; s != nil {
			targets, planned[s.Endpoint+"/"+s.Bucket] = append(targets, s), true
		}
	}
	seen := map[string]bool{}
	var out []Found
	for _, s := range targets {
		if seen[s.Endpoint] {
			continue
		}
		seen[s.Endpoint] = true
		tg, err := e.repos.S3Target("", s)
		if err != nil {
			continue
		}
		c, err := objstore.New(tg)
		if err != nil {
			continue
		}
		names, err := c.ListBuckets(ctx, "")
		if err != nil {
			continue
		}
		for _, n := range names {
			if strings.Contains(strings.ToLower(n), id) && !planned[s.Endpoint+"/"+n] {
				out = append(out, Found{Kind: certs.KindS3Bucket, Name: n, Location: tg.URL() + "/" + n,
					Why: fmt.Sprintf("its name carries the contract id %s but no source or repository names it", e.cfg.Contract.ID)})
			}
		}
	}
	return out
}
