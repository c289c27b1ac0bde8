package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"steward/internal/catalog"
	"steward/internal/testenv"
)

// TestCatalogMigrateToPostgres: a SQLite catalog with real runs (two
// backups, a drill), an operator, an erase plan with its journal and a
// claimed run is copied into an empty PostgreSQL catalog: every row comes
// over as it was, `audit verify` passes on the target, the daemon's
// commands then use it, and a second migrate into the now full database
// is refused, naming its tables, changing nothing.
func TestCatalogMigrateToPostgres(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	testenv.WriteFiles(t, data, 3, 500)
	yaml := fmt.Sprintf(`contract: {id: T-1, customer: City, service: s, end_date: 2099-03-31}
state_dir: state
restic: {path: %s}
repositories:
  - {name: disk, local: {}}
sources:
  - {name: docs, path: {path: %s}}
jobs:
  - {name: nightly, sources: [docs], repository: disk}
drills: {read_data_subsets: 2}
`, filepath.Join(repoRoot(t), "bin", "restic"), data)
	os.WriteFile(filepath.Join(dir, "steward.yaml"), []byte(yaml), 0o600)
	const adminPW = "Migrate-Me-2026!"
	for _, step := range []struct {
		stdin string
		args  []string
	}{
		{"", []string{"init"}}, {"", []string{"repo", "init"}}, {"", []string{"backup", "run"}}, {"", []string{"backup", "run"}},
		{"", []string{"drill", "run"}}, {adminPW + "\n", []string{"user", "add", "admin", "--role", "admin"}},
	} {
		if code, out, errOut := stewardRun(t, dir, step.stdin, step.args...); code != 0 {
			t.Fatalf("%v: %d\n%s%s", step.args, code, out, errOut)
		}
	}
	// What no command above makes: an erase plan and its journal, a claim.
	sq, err := catalog.Open(ctx, filepath.Join(dir, "state", "catalog.db"))
	if err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(sq.PutErasePlan(ctx, catalog.ErasePlanRow{ID: "plan-1", Created: "2026-03-01T09:00:00.000+09:00", Status: "planned", Record: json.RawMessage(`{"id":"plan-1"}`)}))
	must(sq.PutJournal(ctx, catalog.JournalRow{PlanID: "plan-1", Step: 1, Name: "freeze", Started: "2026-03-01T09:00:01.000+09:00", Result: "done", Evidence: json.RawMessage(`{"frozen":true}`)}))
	if _, err := sq.ClaimRun(ctx, catalog.ClaimRow{Job: "backup:nightly", Due: "2026-03-01T02:00:00+09:00", Daemon: "host/pid-1", Claimed: "2026-03-01T02:00:00.010+09:00"}); err != nil {
		t.Fatal(err)
	}
	before := dumpCatalog(t, sq)
	sq.Close()
	if len(before["runs"]) < 2 || len(before["snapshots"]) < 2 || len(before["manifests"]) < 2 || len(before["drills"]) < 1 || len(before["operators"]) != 1 || len(before["kv"]) < 1 || len(before["erase_journal"]) != 1 || len(before["schedule_claims"]) != 1 {
		t.Fatalf("the SQLite catalog lacks what the test made: %v", counts(before))
	}

	pg := testenv.StartPostgres(t)
	pg.CreateDatabase(t, "steward")
	os.WriteFile(filepath.Join(dir, "steward.yaml"), []byte(yaml+sharedCatalogYAML(t, pg, "steward")), 0o600)
	if code, _, errOut := stewardRun(t, dir, "", "catalog", "migrate", "--to", "sqlite"); code != exitUsage || !strings.Contains(errOut, "--to postgres") {
		t.Fatalf("migrate --to sqlite: %d %s", code, errOut)
	}
	code, out, errOut := stewardRun(t, dir, "", "catalog", "migrate", "--to", "postgres")
	if code != 0 {
		t.Fatalf("catalog migrate: %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"  audit ", "  manifest_chunks ", "  operators ", "  schedule_claims ", "verified:", "catalog.migrate", "from now on", pg.User + "@127.0.0.1"} {
		if !strings.Contains(out, want) {
			t.Errorf("migrate output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out+errOut, pg.Password) {
		t.Fatal("migrate output shows the catalog password")
	}

	a, err := openApp(dir)
	if err != nil {
		t.Fatal(err)
	}
	pgStore, ok := a.Catalog.(*catalog.Postgres)
	if !ok {
		t.Fatalf("with catalog.postgres the app opened %T", a.Catalog)
	}
	after := dumpCatalog(t, pgStore)
	a.Close()
	// The target holds everything, plus the catalog.migrate record.
	last := after["audit"][len(after["audit"])-1]
	if !strings.Contains(last, `"catalog.migrate"`) || !strings.Contains(last, `"ok"`) {
		t.Fatalf("the target's last audit record is %s, want catalog.migrate ok", last)
	}
	after["audit"] = after["audit"][:len(after["audit"])-1]
	for table, rows := range before {
		if !reflect.DeepEqual(rows, after[table]) {
			t.Errorf("table %s differs after the copy:\nSQLite:   %v\nPostgres: %v", table, rows, after[table])
		}
	}
	if code, out, errOut := stewardRun(t, dir, "", "audit", "verify"); code != 0 {
		t.Fatalf("audit verify on the PostgreSQL catalog: %d\n%s%s", code, out, errOut)
	}
	// The commands work on the new catalog, and status names it.
	if code, out, errOut := stewardRun(t, dir, "", "status"); code != 0 || !strings.Contains(out, "postgres://"+pg.User+"@127.0.0.1") || strings.Contains(out, pg.Password) {
		t.Fatalf("status on the PostgreSQL catalog: %d\n%s%s", code, out, errOut)
	}
	if code, out, errOut := stewardRun(t, dir, "", "backup", "run"); code != 0 {
		t.Fatalf("backup run on the PostgreSQL catalog: %d\n%s%s", code, out, errOut)
	}

	// A second migrate into the full database is refused and changes it not.
	a, err = openApp(dir)
	if err != nil {
		t.Fatal(err)
	}
	full := dumpCatalog(t, a.Catalog)
	a.Close()
	code, _, errOut = stewardRun(t, dir, "", "catalog", "migrate", "--to", "postgres")
	if code == 0 || !strings.Contains(errOut, "not empty") || !strings.Contains(errOut, "audit (") || !strings.Contains(errOut, "nothing was copied") {
		t.Fatalf("migrate into a full catalog: %d %s", code, errOut)
	}
	a, err = openApp(dir)
	if err != nil {
		t.Fatal(err)
	}
	if again := dumpCatalog(t, a.Catalog); !reflect.DeepEqual(again, full) {
		t.Fatalf("a refused migrate changed the target: %v, was %v", counts(again), counts(full))
	}
	a.Close()
}

// dumpCatalog reads every table through the Store interface, each row as
// JSON (manifests with their bodies).
func dumpCatalog(t *testing.T, st catalog.Store) map[string][]string {
	t.Helper()
	ctx := context.Background()
	out := map[string][]string{}
	add := func(table string, v any) {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		out[table] = append(out[table], string(b))
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(st.ScanAudit(ctx, func(r catalog.AuditRecord) error { add("audit", r); return nil }))
	runs, err := st.JobRuns(ctx, "nightly", 0)
	must(err)
	for _, r := range runs {
		add("runs", r)
	}
	snaps, err := st.JobSnapshots(ctx, "nightly")
	must(err)
	for _, s := range snaps {
		add("snapshots", s)
		m, err := st.Manifest(ctx, s.SnapshotID)
		must(err)
		rc, err := st.ManifestBody(ctx, m.SHA256)
		must(err)
		body, err := io.ReadAll(rc)
		rc.Close()
		must(err)
		add("manifests", map[string]any{"row": m, "body": string(body)})
	}
	drills, err := st.Drills(ctx, 0)
	must(err)
	for _, d := range drills {
		add("drills", d)
	}
	plans, err := st.ErasePlans(ctx)
	must(err)
	for _, p := range plans {
		add("erase_plans", p)
		j, err := st.Journal(ctx, p.ID)
		must(err)
		add("erase_journal", j)
	}
	ops, err := st.Operators(ctx)
	must(err)
	for _, o := range ops {
		add("operators", o)
	}
	claims, err := st.Claims(ctx, "backup:nightly", 0)
	must(err)
	for _, c := range claims {
		add("schedule_claims", c)
	}
	for _, k := range []string{"schedule.drill_rotation", "repository.health.disk", "drills.next_subset.disk"} {
		if v, err := st.Get(ctx, k); err == nil {
			add("kv", map[string]string{k: string(v)})
		}
	}
	return out
}

func counts(d map[string][]string) map[string]int {
	out := map[string]int{}
	for k, v := range d {
		out[k] = len(v)
	}
	return out
}
