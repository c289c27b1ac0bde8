package app

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"go.uber.org/goleak"

	"steward/internal/catalog"
)

// serveFor runs a.Serve on a fake scheduler clock at testNow until cond
// holds (or 20 s pass), then cancels it and returns its output.
func serveFor(t *testing.T, a *App, cond func() bool) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuf
	done := make(chan error, 1)
	go func() {
		done <- a.Serve(ctx, ServeOptions{Clock: clockwork.NewFakeClockAt(testNow), StopTimeout: 10 * time.Second, Out: &out, Listen: "127.0.0.1:0"})
	}()
	for deadline := time.Now().Add(20 * time.Second); !cond() && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	// The HTTP server answers while the daemon runs (and, with goleak in
	// the caller, leaves no goroutine behind once it stopped).
	var url string
	for deadline := time.Now().Add(10 * time.Second); url == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		for _, f := range strings.Fields(out.String()) {
			if strings.HasPrefix(f, "http://127.0.0.1:") {
				url = f
			}
		}
	}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	for _, path := range []string{"/healthz", "/metrics"} {
		res, err := client.Get(url + path)
		if err != nil {
			t.Fatalf("GET %s: %v\n%s", path, err, out.String())
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %s", path, res.Status)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve: %v\n%s", err, out.String())
	}
	return out.String()
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// backupAttempts counts the backup.run records of the audit log.
func backupAttempts(t *testing.T, a *App) int {
	t.Helper()
	n := 0
	err := a.Catalog.ScanAudit(context.Background(), func(r catalog.AuditRecord) error {
		if r.Action == "backup.run" && r.Result == "started" {
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestServeMissedRunFromCatalog: the daemon reads a job's last run from
// the catalog: a run older than the schedule's period runs once at start,
// a recent one does not; nothing is left running after Serve returns.
func TestServeMissedRunFromCatalog(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	for _, tt := range []struct {
		name    string
		lastRun time.Time
		want    int
	}{
		{"last run before today's 02:00", testNow.Add(-26 * time.Hour), 1},
		{"last run after today's 02:00", testNow.Add(-time.Hour), 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := newTestApp(t)
			a.Config.Jobs[0].Schedule = "0 2 * * *"
			err := a.Catalog.PutRun(context.Background(), catalog.RunRow{ID: "run-x", Job: "nightly", Source: "docs", Repository: "tokyo",
				Started: a.Clock.Format(tt.lastRun), Finished: a.Clock.Format(tt.lastRun), Result: "ok"})
			if err != nil {
				t.Fatal(err)
			}
			out := serveFor(t, a, func() bool { return backupAttempts(t, a) >= 1 || tt.want == 0 })
			if tt.want == 0 {
				time.Sleep(300 * time.Millisecond)
			}
			if got := backupAttempts(t, a); got != tt.want {
				t.Fatalf("%d backups started at start, want %d\n%s", got, tt.want, out)
			}
			if !strings.Contains(out, "scheduled backup:nightly: 0 2 * * * (Asia/Tokyo)") {
				t.Fatalf("output: %s", out)
			}
		})
	}
}

func TestDrillRotation(t *testing.T) {
	a := newTestApp(t)
	a.Config.Jobs[0].Sources = []string{"docs", "db"}
	a.Config.Jobs[0].Replicas = []string{"osaka"}
	var got []string
	for _, tg := range a.drillTargets() {
		got = append(got, tg.job+"/"+tg.source+"/"+tg.repository)
	}
	want := "nightly/docs/tokyo nightly/docs/osaka nightly/db/tokyo nightly/db/osaka"
	if strings.Join(got, " ") != want {
		t.Fatalf("drill rotation %v, want %s", got, want)
	}
}
