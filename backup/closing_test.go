package backup

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"steward/internal/audit"
	"steward/internal/catalog"
)

// TestKilledRunIsClosedInTheAuditLog: a run that a killed Steward left
// "started" gets its closing record (interrupted) from the next run, so
// the audit log never holds a run that began and never ended.
func TestKilledRunIsClosedInTheAuditLog(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	files := filepath.Join(dir, "files")
	writeFiles(t, files, 3, 1<<10)
	f := newFixture(t, dir, fmt.Sprintf("repositories:\n  - {name: disk, local: {}}\nsources:\n  - {name: files, path: {path: %s}}\njobs:\n  - {name: j, sources: [files], repository: disk}\n", files), nil)
	if err := f.repos.Init(ctx, "disk"); err != nil {
		t.Fatal(err)
	}
	// What a Steward killed mid-run leaves: the job's "started" record and
	// a run still marked running.
	f.log.Append(ctx, audit.Entry{Action: "backup.run", Target: "job:j", Result: audit.ResultStarted})
	started := f.eng.now()
	if err := f.store.PutRun(ctx, catalog.RunRow{ID: "run-killed", Job: "j", Source: "files", Repository: "disk", Started: started, Record: []byte(`{"id":"run-killed","job":"j","source":"files","started":"` + started + `"}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.eng.Run(ctx, RunOptions{Job: "j"}); err != nil {
		t.Fatal(err)
	}
	var opened, closed int
	f.store.ScanAudit(ctx, func(r catalog.AuditRecord) error {
		if r.Action == "backup.run" && r.Target == "job:j" {
			switch r.Result {
			case audit.ResultStarted:
				opened++
			case ResultInterrupted, audit.ResultOK, audit.ResultFailed:
				closed++
			}
		}
		return nil
	})
	if opened != 2 || closed != 2 {
		t.Fatalf("backup.run records: %d started, %d closed; want every start closed (2 and 2)", opened, closed)
	}
}
