package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"steward/app"
	"steward/internal/clock"
)

// TestStatusExitCodes: after a real backup, status exits 0; on a clock
// past drills.rpo_target it exits 4 and names the stale source; with the
// clock unsynchronised it exits 4 and says so; uninitialised, 0.
func TestStatusExitCodes(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	os.MkdirAll(data, 0o755)
	os.WriteFile(filepath.Join(data, "a.txt"), []byte("hello"), 0o644)
	cfgPath := filepath.Join(dir, "steward.yaml")
	os.WriteFile(cfgPath, fmt.Appendf(nil, `contract: {id: T-1, customer: City, service: s, end_date: 2099-03-31}
state_dir: state
restic: {path: %s}
repositories:
  - {name: disk, local: {}}
sources:
  - {name: docs, path: {path: %s}}
jobs:
  - {name: nightly, sources: [docs], repository: disk, schedule: "0 2 * * *"}
drills: {rpo_target: 1h}
`, filepath.Join(repoRoot(t), "bin", "restic"), data), 0o600)

	synced := func(context.Context) clock.SyncStatus {
		return clock.SyncStatus{State: clock.Synchronised, Source: "test"}
	}
	unsynced := func(context.Context) clock.SyncStatus {
		return clock.SyncStatus{State: clock.Unsynchronised, Detail: "kernel clock not disciplined by NTP"}
	}
	status := func(c clock.Clock, sync func(context.Context) clock.SyncStatus, json bool) (int, string) {
		t.Helper()
		var out bytes.Buffer
		g := &globalOptions{ConfigPath: cfgPath, JSON: json, LogLevel: "warn", stdout: &out, stderr: &out, baseClock: c, clockSync: sync}
		defer g.close()
		ctx := context.Background()
		return exitCode(ctx, runStatus(ctx, statusOptions{}, g, &out)), out.String()
	}

	if code, out := status(nil, unsynced, false); code != exitOK {
		t.Fatalf("uninitialised: %d %s", code, out)
	}
	for _, args := range [][]string{{"init"}, {"repo", "init"}, {"backup", "run"}} {
		if code, out, errOut := stewardRun(t, dir, "", args...); code != 0 {
			t.Fatalf("%v: %d\n%s%s", args, code, out, errOut)
		}
	}
	code, out := status(nil, synced, false)
	if code != exitOK || !strings.Contains(out, "nightly/docs") || !strings.Contains(out, "last success") || strings.Contains(out, "ATTENTION") {
		t.Fatalf("fresh: %d\n%s", code, out)
	}
	later := clock.NewFake(time.Now().Add(90 * time.Minute))
	code, out = status(later, synced, false)
	if code != exitAttention || !strings.Contains(out, "ATTENTION: job nightly, source docs: the newest backup is 1h30m") {
		t.Fatalf("stale: %d\n%s", code, out)
	}
	code, out = status(nil, unsynced, true)
	var res app.StatusResult
	if code != exitAttention || json.Unmarshal([]byte(strings.SplitN(out, "\n", 2)[0]), &res) != nil ||
		len(res.Attention) != 1 || !strings.Contains(res.Attention[0], "clock is unsynchronised") {
		t.Fatalf("unsynchronised: %d\n%s", code, out)
	}
	if code, out, errOut := stewardRun(t, dir, "", "--help"); code != 0 || !strings.Contains(out, "4    status: attention needed") {
		t.Fatalf("--help lists no exit code 4: %d %s%s", code, out, errOut)
	}
}
