package main

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"steward/internal/catalog"
	"steward/internal/testenv"
)

// catalogPWEnv is the variable the shared-catalog tests' configs read the
// catalog password from.
const catalogPWEnv = "STEWARD_TEST_CATALOG_PW"

// sharedCatalogYAML is a catalog section for database db on pg.
func sharedCatalogYAML(t *testing.T, pg *testenv.Postgres, db string) string {
	t.Helper()
	t.Setenv(catalogPWEnv, pg.Password)
	return fmt.Sprintf("catalog:\n  postgres: {host: %s, port: %d, database: %s, user: %s, password: \"env:%s\", sslmode: disable}\n",
		pg.Host, pg.Port, db, pg.User, catalogPWEnv)
}

// copyKeys makes state dir to for a second daemon from state dir from:
// the keys (master key, API token, signing key, sealed repository
// passwords) and nothing else, as docs/daemon.md says.
func copyKeys(t *testing.T, from, to string) {
	t.Helper()
	if err := os.MkdirAll(to, 0o700); err != nil {
		t.Fatal(err)
	}
	err := filepath.WalkDir(filepath.Join(from, "keys"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o700)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(to, rel), b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestTwoDaemonsShareACatalog (req 18, issue 15's Done-when): two `steward
// serve` processes, each with its own state dir (the same master key),
// share one PostgreSQL catalog and a repository, with a backup every 5 s.
// Every scheduled run is claimed once and made once; after the daemon
// that made the latest run is killed (SIGKILL), the other makes the runs
// that follow, within a minute; the audit log verifies from both state
// dirs.
func TestTwoDaemonsShareACatalog(t *testing.T) {
	root := t.TempDir()
	pg := testenv.StartPostgres(t)
	pg.CreateDatabase(t, "steward")
	files := filepath.Join(root, "files")
	testenv.WriteFiles(t, files, 4, 2000)
	shared := filepath.Join(root, "shared-repo") // a mount both hosts reach
	yaml := fmt.Sprintf(`contract: {id: T-1, customer: City, service: s, end_date: 2099-03-31}
state_dir: state
restic: {path: %s}
repositories:
  - {name: disk, local: {path: %s}}
sources:
  - {name: files, path: {path: %s}}
jobs:
  - {name: j, sources: [files], repository: disk, schedule: "*/5 * * * * *"}
`, filepath.Join(repoRoot(t), "bin", "restic"), shared, files) + sharedCatalogYAML(t, pg, "steward")
	dirA, dirB := filepath.Join(root, "host-a"), filepath.Join(root, "host-b")
	for _, d := range []string{dirA, dirB} {
		os.MkdirAll(d, 0o755)
		os.WriteFile(filepath.Join(d, "steward.yaml"), []byte(yaml), 0o600)
	}
	for _, args := range [][]string{{"init"}, {"repo", "init"}} {
		if code, out, errOut := stewardRun(t, dirA, "", args...); code != 0 {
			t.Fatalf("%v: %d\n%s%s", args, code, out, errOut)
		}
	}
	copyKeys(t, filepath.Join(dirA, "state"), filepath.Join(dirB, "state"))

	a := startServe(t, dirA, nil)
	b := startServe(t, dirB, nil)
	daemons := map[int]*daemon{a.cmd.Process.Pid: a, b.cmd.Process.Pid: b}
	time.Sleep(45 * time.Second)

	claims := readClaims(t, dirA)
	checkOnce(t, dirA)
	if len(claims) < 5 {
		t.Fatalf("%d runs claimed in 45 s with a run every 5 s:\n%v\nA:\n%s\nB:\n%s", len(claims), claims, a.out.String(), b.out.String())
	}
	// Kill the daemon that made the latest run; the other carries on.
	var victim, survivor *daemon
	for pid, d := range daemons {
		if strings.HasSuffix(claims[0].Daemon, fmt.Sprintf("/pid-%d", pid)) {
			victim = d
		} else {
			survivor = d
		}
	}
	if victim == nil {
		t.Fatalf("the latest claim %+v names neither daemon (%v)", claims[0], slices.Collect(func(yield func(int) bool) {
			for pid := range daemons {
				yield(pid)
			}
		}))
	}
	killedAt := time.Now()
	syscall.Kill(-victim.cmd.Process.Pid, syscall.SIGKILL)
	<-victim.exited
	survivorName := fmt.Sprintf("/pid-%d", survivor.cmd.Process.Pid)
	survivor.waitUntil(t, "3 runs by the surviving daemon after the other was killed", time.Minute, func() bool {
		n := 0
		for _, c := range readClaims(t, dirA) {
			if due, err := time.Parse(time.RFC3339, c.Due); err == nil && due.After(killedAt) && strings.HasSuffix(c.Daemon, survivorName) {
				n++
			}
		}
		return n >= 3
	})
	t.Logf("the survivor made 3 runs %s after the kill", time.Since(killedAt).Round(time.Second))
	// The killed daemon's last claim may have died before its run was
	// recorded.
	var killedClaims []string
	for _, c := range readClaims(t, dirA) {
		if c.Daemon == claims[0].Daemon {
			killedClaims = append(killedClaims, c.Due)
			break
		}
	}
	checkOnce(t, dirA, killedClaims...)
	if code := survivor.stop(t, 30*time.Second); code != 0 {
		t.Fatalf("surviving serve exit code %d:\n%s", code, survivor.out.String())
	}
	// The audit log verifies from both state dirs (each mirror holds its
	// own daemon's records).
	for _, d := range []string{dirA, dirB} {
		if code, out, errOut := stewardRun(t, d, "", "audit", "verify"); code != 0 {
			t.Errorf("audit verify in %s: %d\n%s%s", filepath.Base(d), code, out, errOut)
		}
	}
	if t.Failed() {
		t.Logf("A:\n%s\nB:\n%s", a.out.String(), b.out.String())
	}
}

// readClaims returns the claims of job j's runs, newest first.
func readClaims(t *testing.T, dir string) []catalog.ClaimRow {
	t.Helper()
	app, err := openApp(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	cs, err := app.Catalog.Claims(context.Background(), "backup:j", 0)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// checkOnce checks that every claimed run of job j was made once: each
// run in the catalog belongs to the newest claim made before it started
// (a daemon claims a run while it holds the job's lock, so no later claim
// exists before the run has started), and no claim has two runs. Only the
// newest claim may have none yet (its run may not have recorded itself),
// and those in mayLack (a killed daemon's last).
func checkOnce(t *testing.T, dir string, mayLack ...string) {
	t.Helper()
	app, err := openApp(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	ctx := context.Background()
	claims, err := app.Catalog.Claims(ctx, "backup:j", 0)
	if err != nil {
		t.Fatal(err)
	}
	runs, err := app.Catalog.JobRuns(ctx, "j", 0)
	if err != nil {
		t.Fatal(err)
	}
	parse := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	slices.SortFunc(claims, func(a, b catalog.ClaimRow) int { return parse(a.Claimed).Compare(parse(b.Claimed)) })
	perClaim := make([]int, len(claims))
	for _, r := range runs {
		started := parse(r.Started)
		k := -1
		for i, c := range claims {
			if !parse(c.Claimed).After(started) {
				k = i
			}
		}
		if k < 0 {
			t.Errorf("run %s started at %s, before any claim", r.ID, r.Started)
			continue
		}
		perClaim[k]++
	}
	for i, n := range perClaim {
		switch {
		case n > 1:
			t.Errorf("the run due %s (claimed by %s) was made %d times", claims[i].Due, claims[i].Daemon, n)
		case n == 0 && i != len(claims)-1 && !slices.Contains(mayLack, claims[i].Due):
			t.Errorf("the run due %s was claimed by %s but never made", claims[i].Due, claims[i].Daemon)
		}
	}
}
