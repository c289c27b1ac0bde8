package app

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"steward/backup"
	"steward/drills"
	"steward/internal/catalog"
	"steward/internal/keys"
	"steward/internal/repo"
	"steward/internal/server"
)

// APIToken returns the daemon API's bearer token, making one (256 random
// bits, keys/api.token, 0600) if this state dir has none yet: state dirs
// made before the daemon existed get theirs on first use. created says
// whether it was made now; that is recorded in the audit log (never the
// token).
func (a *App) APIToken(ctx context.Context) (tok keys.Secret, created bool, err error) {
	tok, created, err = keys.EnsureAPIToken(a.State.APIToken())
	if err != nil {
		return nil, false, err
	}
	if created {
		if err := a.Record(ctx, "api.token.create", a.State.APIToken(), "ok", nil); err != nil {
			return nil, false, err
		}
	}
	return tok, created, nil
}

// ServerHandler is the daemon's HTTP handler over this app: /healthz,
// /readyz, /metrics into reg (nil: a registry of its own), the JSON
// API, opened by the API token (made if missing), and the web console
// under /ui/, opened by an operator account (internal/auth). o are the options the
// app was opened with (status reads the state dir as `steward status`
// does).
func (a *App) ServerHandler(ctx context.Context, o Options, reg *prometheus.Registry) (http.Handler, error) {
	tok, _, err := a.APIToken(ctx)
	if err != nil {
		return nil, err
	}
	checker := server.NewToken(tok)
	tok.Wipe()
	return server.New(server.Deps{
		Reader: &serverReader{a: a, o: o}, Audit: a.Audit, Token: checker, Registry: reg,
		ReportsDir: a.State.Reports(), Log: a.Log.With("component", "server"),
		Console: a.consoleDeps(o),
	})
}

// serverReader answers the server from the catalog.
type serverReader struct {
	a *App
	o Options
}

var _ server.Reader = (*serverReader)(nil)

func (r *serverReader) Status(ctx context.Context) (any, error) { return Status(ctx, r.o) }

func (r *serverReader) Ready(ctx context.Context) error {
	if _, err := r.a.Catalog.SchemaVersion(ctx); err != nil {
		return fmt.Errorf("catalog: %w", err)
	}
	if ro, ok := r.a.Catalog.(interface{ ReadOnly() error }); ok && ro.ReadOnly() != nil {
		return fmt.Errorf("catalog: %w", ro.ReadOnly())
	}
	return nil
}

func (r *serverReader) jobs(job string) []string {
	var out []string
	for _, j := range r.a.Config.Jobs {
		if job == "" || j.Name == job {
			out = append(out, j.Name)
		}
	}
	return out
}

func (r *serverReader) Runs(ctx context.Context, job string, limit int) ([]server.Run, error) {
	var out []server.Run
	for _, j := range r.jobs(job) {
		rows, err := r.a.Catalog.JobRuns(ctx, j, limit)
		if err != nil {
			return nil, err
		}
		for _, row := range rows {
			rec := runRecord(row)
			out = append(out, server.Run{ID: row.ID, Job: row.Job, Source: row.Source, Repository: row.Repository, SnapshotID: row.SnapshotID,
				Started: row.Started, Finished: row.Finished, Result: row.Result, BytesAdded: rec.DataAdded, Error: rec.Error})
		}
	}
	slices.SortStableFunc(out, func(x, y server.Run) int {
		return -cmp.Compare(parseTime(x.Started).UnixNano(), parseTime(y.Started).UnixNano())
	})
	return out, nil
}

func (r *serverReader) Snapshots(ctx context.Context, job string) ([]server.Snapshot, error) {
	var out []server.Snapshot
	for _, j := range r.jobs(job) {
		rows, err := r.a.Catalog.JobSnapshots(ctx, j)
		if err != nil {
			return nil, err
		}
		for _, s := range rows {
			out = append(out, server.Snapshot{Repository: s.Repository, SnapshotID: s.SnapshotID, Job: s.Job, Source: s.Source, Time: s.Time})
		}
	}
	slices.SortStableFunc(out, func(x, y server.Snapshot) int {
		return -cmp.Compare(parseTime(x.Time).UnixNano(), parseTime(y.Time).UnixNano())
	})
	return out, nil
}

func (r *serverReader) Drills(ctx context.Context, limit int) ([]server.Drill, error) {
	rows, err := r.a.Catalog.Drills(ctx, limit)
	if err != nil {
		return nil, err
	}
	out := make([]server.Drill, 0, len(rows))
	for _, row := range rows {
		rec := drillRecord(row)
		out = append(out, server.Drill{ID: row.ID, Job: row.Job, Source: rec.Source, Repository: rec.Repository, SnapshotID: rec.SnapshotID,
			Started: row.Started, Finished: row.Finished, Result: row.Result,
			RTOSeconds: rec.RTO.Actual.Seconds(), RPOSeconds: rec.RPO.Actual.Seconds(), RTOMet: rec.RTO.Met, RPOMet: rec.RPO.Met})
	}
	return out, nil
}

// factsRuns is how many of a job's newest runs /metrics reads for the
// newest success of each source.
const factsRuns = 500

func (r *serverReader) Facts(ctx context.Context) (*server.Facts, error) {
	a := r.a
	now := a.Clock.Now()
	f := &server.Facts{
		ClockState:       string(r.o.clockSync(ctx).State),
		ContractDaysLeft: a.Config.Contract.EndDate.End(a.Clock.Location()).Sub(now).Hours() / 24,
	}
	snapshots := map[string]int{}
	for _, j := range a.Config.Jobs {
		runs, err := a.Catalog.JobRuns(ctx, j.Name, factsRuns)
		if err != nil {
			return nil, err
		}
		failed, err := a.Catalog.RunsWithResult(ctx, j.Repository, backup.ResultFailed)
		if err != nil {
			return nil, err
		}
		for _, src := range j.Sources {
			b := server.BackupFacts{Job: j.Name, Source: src, Repository: j.Repository}
			b.LastFailed, b.LastSuccess, b.LastDuration, b.LastBytesAdded = lastRuns(runs, src)
			for _, row := range failed {
				if row.Job == j.Name && row.Source == src {
					b.Failures++
				}
			}
			f.Backups = append(f.Backups, b)
		}
		snaps, err := a.Catalog.JobSnapshots(ctx, j.Name)
		if err != nil {
			return nil, err
		}
		for _, s := range snaps {
			snapshots[s.Repository]++
		}
	}
	book := repo.HealthBook{KV: a.Catalog}
	for _, rp := range a.Config.Repositories {
		rf := server.RepositoryFacts{Name: rp.Name, Snapshots: snapshots[rp.Name]}
		h, ok, err := book.Get(ctx, rp.Name)
		if err != nil {
			return nil, err
		}
		if ok {
			rf.Checked, rf.CheckOK, rf.CheckTime = true, !h.Failing(), parseTime(h.Time)
		}
		f.Repositories = append(f.Repositories, rf)
	}
	drillRows, err := a.Catalog.Drills(ctx, 200)
	if err != nil {
		return nil, err
	}
	seen := map[[3]string]bool{}
	for _, row := range drillRows { // newest first
		if row.Result == "" {
			continue
		}
		rec := drillRecord(row)
		key := [3]string{row.Job, rec.Source, rec.Repository}
		if seen[key] {
			continue
		}
		seen[key] = true
		f.Drills = append(f.Drills, server.DrillFacts{Job: row.Job, Source: rec.Source, Repository: rec.Repository, Time: parseTime(row.Started),
			Passed: row.Result == drills.ResultPassed, RTO: rec.RTO.Actual, RPO: rec.RPO.Actual})
	}
	return f, nil
}

// lastRuns reads source's newest finished run (failed or not) and newest
// successful run from runs (newest first).
func lastRuns(runs []catalog.RunRow, source string) (lastFailed bool, success time.Time, took time.Duration, added int64) {
	finished := false
	for _, row := range runs {
		if row.Source != source || row.Result == "" {
			continue
		}
		if !finished {
			finished, lastFailed = true, row.Result != backup.ResultOK
		}
		if row.Result == backup.ResultOK {
			end := parseTime(row.Finished)
			return lastFailed, end, end.Sub(parseTime(row.Started)), runRecord(row).DataAdded
		}
	}
	return lastFailed, time.Time{}, 0, 0
}

func runRecord(row catalog.RunRow) backup.RunRecord {
	var rec backup.RunRecord
	_ = json.Unmarshal(row.Record, &rec) // an unreadable record reads as zeros; its columns still say what happened
	return rec
}

func drillRecord(row catalog.DrillRow) drills.Record {
	var rec drills.Record
	_ = json.Unmarshal(row.Record, &rec)
	return rec
}

// parseTime reads a catalog time (RFC 3339); a bad one is the zero time.
func parseTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t
}
