package app

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"steward/backup"
	"steward/drills"
	"steward/internal/clock"
	"steward/internal/config"
	"steward/internal/server"
	"steward/internal/testenv"
)

// openServedApp initialises a state dir with one path source and one
// local repository (created), on the real clock.
func openServedApp(t *testing.T) (*App, Options) {
	t.Helper()
	dir := t.TempDir()
	restic, err := filepath.Abs(filepath.Join("..", "bin", "restic"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(restic); err != nil {
		t.Fatalf("%s: run scripts/setup.sh (it builds the pinned restic)", restic)
	}
	data := filepath.Join(dir, "data")
	testenv.WriteFiles(t, data, 5, 2000)
	cfg := filepath.Join(dir, "steward.yaml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, `contract: {id: K-2024-017, customer: City, service: s, end_date: 2099-03-31}
state_dir: state
restic: {path: %s}
repositories:
  - {name: tokyo, local: {}}
sources:
  - {name: docs, path: {path: %s}}
jobs:
  - {name: nightly, sources: [docs], repository: tokyo, schedule: "0 2 * * *"}
`, restic, data), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	o := Options{ConfigPath: cfg, LogLevel: "warn", ClockSync: func(context.Context) clock.SyncStatus {
		return clock.SyncStatus{State: clock.Synchronised, Source: "test"}
	}}
	if _, err := Init(ctx, o); err != nil {
		t.Fatal(err)
	}
	a, err := Open(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	repos, err := a.Repos(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := repos.Init(ctx, "tokyo"); err != nil {
		t.Fatal(err)
	}
	return a, o
}

// TestServerMetricsAfterBackup: after a real backup and a real drill,
// /metrics (scraped over a loopback listener and read with the
// Prometheus text parser) holds every family, with the values the
// catalog holds; the API answers the token and the runs it lists are the
// catalog's.
func TestServerMetricsAfterBackup(t *testing.T) {
	a, o := openServedApp(t)
	ctx := context.Background()
	eng, err := a.Backup(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := eng.Run(ctx, backup.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	run := rep.Runs[0]
	dr, err := a.Driller(ctx)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := dr.Run(ctx, drills.RunOptions{Participants: []string{"test"}})
	if err != nil {
		t.Fatal(err)
	}
	drill := recs[0]

	h, err := a.ServerHandler(ctx, o, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(ctx)
	l, err := server.Listen(sctx, config.Server{Listen: "127.0.0.1:0"}, h, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		stop()
		if err := l.Wait(); err != nil {
			t.Error(err)
		}
	}()

	resp, err := http.Get(l.URL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	value := func(name string, labels map[string]string) float64 {
		t.Helper()
		f, ok := families[name]
		if !ok {
			t.Fatalf("/metrics has no %s", name)
		}
	next:
		for _, m := range f.Metric {
			for _, lp := range m.Label {
				if v, ok := labels[lp.GetName()]; ok && v != lp.GetValue() {
					continue next
				}
			}
			return metricValue(m)
		}
		t.Fatalf("%s has no series %v", name, labels)
		return 0
	}
	src := map[string]string{"job": "nightly", "source": "docs", "repository": "tokyo"}
	finished, started := parseTime(run.Finished), parseTime(run.Started)
	for _, tt := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"steward_backup_last_success_timestamp_seconds", src, float64(finished.UnixNano()) / 1e9},
		{"steward_backup_last_success_duration_seconds", src, finished.Sub(started).Seconds()},
		{"steward_backup_last_success_bytes_added", src, float64(run.DataAdded)},
		{"steward_backup_last_run_failed", src, 0},
		{"steward_backup_failures_total", src, 0},
		{"steward_repository_snapshots", map[string]string{"repository": "tokyo"}, 1},
		{"steward_repository_check_ok", map[string]string{"repository": "tokyo"}, 1},
		{"steward_drill_last_passed", src, 1},
		{"steward_drill_last_rto_seconds", src, drill.RTO.Actual.Seconds()},
		{"steward_drill_last_rpo_seconds", src, drill.RPO.Actual.Seconds()},
		{"steward_drill_last_timestamp_seconds", src, float64(drill.Started.UnixNano()) / 1e9},
		{"steward_clock_synchronised", map[string]string{"state": "synchronised"}, 1},
		{"steward_catalog_up", nil, 1},
	} {
		if got := value(tt.name, tt.labels); !near(got, tt.want) {
			t.Errorf("%s%v = %v, want %v", tt.name, tt.labels, got, tt.want)
		}
	}
	if run.DataAdded <= 0 || drill.Result != drills.ResultPassed {
		t.Fatalf("the backup added %d bytes, the drill %s: the test proves nothing", run.DataAdded, drill.Result)
	}
	if d := value("steward_contract_days_left", nil); d < 365*70 {
		t.Errorf("contract days left %v", d)
	}

	// The API: the token opens it, and the runs are the catalog's.
	tok, _, err := a.APIToken(ctx)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", l.URL()+"/api/v1/runs", nil)
	req.Header.Set("Authorization", "Bearer "+string(tok.Reveal()))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var runs []server.Run
	err = json.NewDecoder(resp.Body).Decode(&runs)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || len(runs) != 1 || runs[0].ID != run.ID || runs[0].BytesAdded != run.DataAdded || runs[0].Result != "ok" {
		t.Fatalf("runs: %d %v %+v", resp.StatusCode, err, runs)
	}
	req, _ = http.NewRequest("GET", l.URL()+"/api/v1/status", nil)
	req.Header.Set("Authorization", "Bearer "+string(tok.Reveal()))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var st StatusResult
	err = json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	if err != nil || len(st.Backups) != 1 || st.Backups[0].LastSuccess != run.Finished || len(st.Attention) != 0 || st.LastDrill == nil || st.LastDrill.ID != drill.DrillID {
		t.Fatalf("status: %v %+v", err, st)
	}
	if next := st.Backups[0].NextRun; !strings.Contains(next, "T02:00:00") || !strings.HasSuffix(next, "+09:00") {
		t.Errorf("next run %q, want 02:00 in the contract's zone", st.Backups[0].NextRun)
	}
}

func metricValue(m *dto.Metric) float64 {
	switch {
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Counter != nil:
		return m.Counter.GetValue()
	}
	return 0
}

// near compares float seconds that went through text (and nanosecond
// rounding).
func near(a, b float64) bool {
	d := a - b
	return d < 1e-3 && d > -1e-3
}
