package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"steward/erase"
	"steward/internal/catalog"
	"steward/internal/testenv"
)

// TestEraseCommands: plan, approval safeguards (exit 1 for a refusal, 2
// for a missing --as), cancel, list; and once an erase has frozen the
// contract, backup run, drill run and restore are refused (exit 1) naming
// the plan.
func TestEraseCommands(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	os.MkdirAll(data, 0o755)
	os.WriteFile(filepath.Join(data, "a.txt"), []byte("hello"), 0o644)
	os.WriteFile(filepath.Join(dir, "steward.yaml"), []byte(fmt.Sprintf(`contract: {id: T-1, customer: City, service: s, end_date: 2099-03-31}
state_dir: state
restic: {path: %s}
repositories:
  - {name: disk, local: {}}
sources:
  - {name: docs, path: {path: %s}}
jobs:
  - {name: nightly, sources: [docs], repository: disk}
erase: {approvers: [bob], cooling_off: 1h}
`, filepath.Join(repoRoot(t), "bin", "restic"), data)), 0o600)
	for _, args := range [][]string{{"init"}, {"repo", "init"}, {"backup", "run"}} {
		if code, out, errOut := stewardRun(t, dir, "", args...); code != 0 {
			t.Fatalf("%v: %d\n%s%s", args, code, out, errOut)
		}
	}
	if code, _, errOut := stewardRun(t, dir, "", "erase", "plan"); code != exitUsage || !strings.Contains(errOut, "--as") {
		t.Fatalf("plan without --as: exit %d %s", code, errOut)
	}
	code, out, errOut := stewardRun(t, dir, "", "erase", "plan", "--as", "alice")
	if code != 0 || !strings.Contains(out, "path:docs") || !strings.Contains(out, "steward erase approve EP-") {
		t.Fatalf("plan: exit %d\n%s%s", code, out, errOut)
	}
	id := strings.Fields(out)[2]
	for _, args := range [][]string{
		{"erase", "approve", id, "--as", "alice", "--confirm", "T-1"},
		{"erase", "approve", id, "--as", "bob", "--confirm", "T-2"},
	} {
		if code, out, errOut := stewardRun(t, dir, "", args...); code != exitFailure || !strings.Contains(errOut, "refused") {
			t.Errorf("%v: exit %d, want a refusal\n%s%s", args, code, out, errOut)
		}
	}
	if code, out, errOut := stewardRun(t, dir, "", "erase", "approve", id, "--as", "bob", "--confirm", "T-1"); code != exitFailure || !strings.Contains(errOut, "no hand-over export") {
		t.Fatalf("approve without a hand-over or a waiver: exit %d\n%s%s", code, out, errOut)
	}
	if code, out, errOut := stewardRun(t, dir, "", "erase", "approve", id, "--as", "bob", "--confirm", "T-1", "--waive-handover", "the city keeps its own copy"); code != 0 || !strings.Contains(out, "approved by bob") {
		t.Fatalf("approve: exit %d\n%s%s", code, out, errOut)
	}
	if code, out, _ := stewardRun(t, dir, "", "erase", "list"); code != 0 || !strings.Contains(out, id) || !strings.Contains(out, "approved") {
		t.Fatalf("list: exit %d\n%s", code, out)
	}
	if code, out, errOut := stewardRun(t, dir, "", "erase", "cancel", id, "--as", "bob"); code != 0 || !strings.Contains(out, "cancelled") {
		t.Fatalf("cancel: exit %d\n%s%s", code, out, errOut)
	}

	// Frozen (as execute leaves it from its second step on).
	st, err := catalog.Open(context.Background(), filepath.Join(dir, "state", "catalog.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Put(context.Background(), erase.FrozenKey, []byte(`{"plan":"EP-frozen","since":"2026-12-01T10:00:00+09:00"}`)); err != nil {
		t.Fatal(err)
	}
	st.Close()
	for _, args := range [][]string{{"backup", "run"}, {"drill", "run"}, {"restore", "--job", "nightly", "--to", filepath.Join(dir, "out")}} {
		code, out, errOut := stewardRun(t, dir, "", args...)
		if code != exitFailure || !strings.Contains(errOut, "EP-frozen") || !strings.Contains(errOut, "refused") {
			t.Errorf("%v after the freeze: exit %d, want %d naming the plan\n%s%s", args, code, exitFailure, out, errOut)
		}
	}
}

// TestEraseStepAlerts: each execution step's end reaches the webhook as an
// alert signed with the configured secret (req 12), in the journal's
// order, the last one the certificate step's.
func TestEraseStepAlerts(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	testenv.WriteFiles(t, data, 2, 100)
	const secret = "erase-alert-secret"
	var mu sync.Mutex
	var subjects []string
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		m := hmac.New(sha256.New, []byte(secret))
		m.Write(body)
		var alert struct{ Kind, Subject string }
		if json.Unmarshal(body, &alert) != nil || r.Header.Get("X-Steward-Signature") != "sha256="+hex.EncodeToString(m.Sum(nil)) {
			t.Errorf("a badly signed or unreadable alert: %s", body)
		}
		mu.Lock()
		subjects = append(subjects, alert.Subject)
		mu.Unlock()
	}))
	defer recv.Close()
	t.Setenv("STEWARD_TEST_ERASE_HOOK_SECRET", secret)
	os.WriteFile(filepath.Join(dir, "steward.yaml"), fmt.Appendf(nil, `contract: {id: T-1, customer: City, service: s, end_date: 2099-03-31}
state_dir: state
restic: {path: %s}
repositories:
  - {name: disk, local: {}}
sources:
  - {name: docs, path: {path: %s}}
jobs:
  - {name: nightly, sources: [docs], repository: disk}
signing: {organisation: Test Operator KK, signer: Test Signer}
erase: {approvers: [bob], cooling_off: 1s}
notify:
  webhook: {url: %s/hook, secret: "env:STEWARD_TEST_ERASE_HOOK_SECRET"}
`, filepath.Join(repoRoot(t), "bin", "restic"), data, recv.URL), 0o600)
	run := func(args ...string) string {
		t.Helper()
		code, out, errOut := stewardRun(t, dir, "", args...)
		if code != 0 {
			t.Fatalf("%v: exit %d\n%s%s", args, code, out, errOut)
		}
		return out
	}
	run("init")
	run("repo", "init")
	run("backup", "run")
	id := strings.Fields(run("erase", "plan", "--as", "alice"))[2]
	run("erase", "approve", id, "--as", "bob", "--confirm", "T-1", "--waive-handover", "kept by the city")
	time.Sleep(1100 * time.Millisecond) // the cooling-off
	run("erase", "execute", id, "--as", "alice")
	mu.Lock()
	defer mu.Unlock()
	var want []string
	for _, step := range erase.Steps {
		want = append(want, fmt.Sprintf("erase plan %s: step %s done", id, step))
	}
	if strings.Join(subjects, "\n") != strings.Join(want, "\n") {
		t.Fatalf("alerts:\n%s\nwant:\n%s", strings.Join(subjects, "\n"), strings.Join(want, "\n"))
	}
}
