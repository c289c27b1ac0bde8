package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"steward/internal/testenv"
)

// TestLostCatalogIsAnError: a state dir whose catalog is empty (0 bytes)
// or missing beside its master key is an error that says what happened and
// how to recover, for every command that opens it; nothing is recreated.
func TestLostCatalogIsAnError(t *testing.T) {
	dir := initDemo(t)
	cat := filepath.Join(dir, "steward-state", "catalog.db")
	if err := os.Truncate(cat, 0); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"audit", "verify"}, {"drill", "list"}, {"snapshots"}} {
		code, _, errOut := stewardRun(t, dir, "", args...)
		if code != exitFailure || !strings.Contains(errOut, "empty (0 bytes)") || !strings.Contains(errOut, "restore catalog.db from a backup") {
			t.Errorf("%v on an empty catalog: exit %d\n%s", args, code, errOut)
		}
	}
	if st, _ := os.Stat(cat); st.Size() != 0 {
		t.Fatalf("the empty catalog was rewritten (%d bytes)", st.Size())
	}
	os.Remove(cat)
	code, _, errOut := stewardRun(t, dir, "", "audit", "verify")
	if code != exitFailure || !strings.Contains(errOut, "master key but no catalog") {
		t.Fatalf("missing catalog beside a master key: exit %d\n%s", code, errOut)
	}
	if _, err := os.Stat(cat); err == nil {
		t.Fatal("a missing catalog was recreated")
	}
}

// TestExposedStateIsRefused: a state dir or master key that others may
// read is refused with the chmod that fixes it; a secret file others may
// read is warned about by config check and status.
func TestExposedStateIsRefused(t *testing.T) {
	dir := initDemo(t)
	state := filepath.Join(dir, "steward-state")
	os.Chmod(state, 0o777)
	code, _, errOut := stewardRun(t, dir, "", "audit", "verify")
	if code != exitFailure || !strings.Contains(errOut, "chmod 700 "+state) {
		t.Fatalf("a 0777 state dir: exit %d\n%s", code, errOut)
	}
	os.Chmod(state, 0o700)
	key := filepath.Join(state, "keys", "master.key")
	os.Chmod(key, 0o644)
	code, _, errOut = stewardRun(t, dir, "", "audit", "verify")
	if code != exitFailure || !strings.Contains(errOut, "chmod 600 "+key) {
		t.Fatalf("a 0644 master key: exit %d\n%s", code, errOut)
	}
	os.Chmod(key, 0o600)
	if code, _, errOut := stewardRun(t, dir, "", "audit", "verify"); code != 0 {
		t.Fatalf("after chmod: exit %d\n%s", code, errOut)
	}

	secret := filepath.Join(dir, "s3.secret")
	os.WriteFile(secret, []byte("not-so-secret"), 0o644)
	cfg, _ := os.ReadFile(filepath.Join(repoRoot(t), "examples", "minimal.yaml"))
	body := string(cfg) + "\nnotify:\n  webhook: {url: \"https://alerts.example.jp/hook\", secret: \"file:" + secret + "\"}\n"
	os.WriteFile(filepath.Join(dir, "steward.yaml"), []byte(body), 0o600)
	for _, args := range [][]string{{"config", "check"}, {"status"}} {
		_, out, errOut := stewardRun(t, dir, "", args...)
		if !strings.Contains(out, "notify.webhook.secret: secret file "+secret+" has mode 0644") {
			t.Errorf("%v does not warn about a world-readable secret file:\n%s%s", args, out, errOut)
		}
	}
}

// TestLostRepositoryPassword: when a repository exists but its sealed
// password is gone, backups and repo init say so and point at the state
// dir's backup; repo init does not pretend a new password would help.
func TestLostRepositoryPassword(t *testing.T) {
	dir := initDemo(t)
	cfg, _ := os.ReadFile(filepath.Join(repoRoot(t), "examples", "minimal.yaml"))
	os.WriteFile(filepath.Join(dir, "steward.yaml"), []byte(string(cfg)+"\nrestic: {path: "+filepath.Join(repoRoot(t), "bin", "restic")+"}\n"), 0o600)
	os.MkdirAll(filepath.Join(dir, "demo-data"), 0o755)
	os.WriteFile(filepath.Join(dir, "demo-data", "a.txt"), []byte("hello"), 0o644)
	if code, out, errOut := stewardRun(t, dir, "", "repo", "init"); code != 0 {
		t.Fatalf("repo init: %d %s%s", code, out, errOut)
	}
	sealed, _ := filepath.Glob(filepath.Join(dir, "steward-state", "keys", "repositories", "*.sealed"))
	if len(sealed) != 1 {
		t.Fatalf("sealed passwords: %v", sealed)
	}
	os.Remove(sealed[0])
	for _, args := range [][]string{{"backup", "run"}, {"repo", "init"}} {
		code, out, errOut := stewardRun(t, dir, "", args...)
		if code == 0 || !strings.Contains(out+errOut, "sealed password is missing") || !strings.Contains(out+errOut, "backup of the state dir") {
			t.Errorf("%v with a lost password: exit %d\n%s%s", args, code, out, errOut)
		}
	}
	if _, err := os.Stat(sealed[0]); err == nil {
		t.Fatal("repo init sealed a new password for an existing repository")
	}
}

// TestMissingSecretIsACheckedConfigProblem: a file: or env: secret that
// points at nothing is found by config check (exit 2, naming the field),
// and a backup run stops on it with exit 2 before it records anything.
func TestMissingSecretIsACheckedConfigProblem(t *testing.T) {
	dir := initDemo(t)
	body := `contract: {id: DEMO-0001, customer: Demo City, service: s, end_date: 2099-03-31}
state_dir: steward-state
restic: {path: ` + filepath.Join(repoRoot(t), "bin", "restic") + `}
repositories:
  - {name: local, local: {}}
  - name: tokyo
    s3: {endpoint: "127.0.0.1:1", bucket: backups, insecure: true, access_key: "env:STEWARD_TEST_UNSET_KEY", secret_key: "file:` + filepath.Join(dir, "missing.secret") + `"}
sources:
  - {name: data, path: {path: demo-data}}
jobs:
  - {name: default, sources: [data], repository: local, replicas: [tokyo]}
`
	os.WriteFile(filepath.Join(dir, "steward.yaml"), []byte(body), 0o600)
	code, out, errOut := stewardRun(t, dir, "", "config", "check")
	if code != exitUsage || !strings.Contains(out, "repositories[") || !strings.Contains(out, "STEWARD_TEST_UNSET_KEY is not set") || !strings.Contains(out, "missing.secret does not exist") {
		t.Fatalf("config check with missing secrets: exit %d\n%s%s", code, out, errOut)
	}
	before := len(auditLines(t, dir))
	code, _, errOut = stewardRun(t, dir, "", "backup", "run")
	if code != exitUsage || !strings.Contains(errOut, "STEWARD_TEST_UNSET_KEY") {
		t.Fatalf("backup run with a missing secret: exit %d\n%s", code, errOut)
	}
	if after := len(auditLines(t, dir)); after != before {
		t.Fatalf("the refused run recorded %d audit records", after-before)
	}
}

// TestFullStateDisk: when the state dir's disk is full, the commands that
// only read still work (status warns), audit verify gives its verdict and
// says that it could not record the check, naming the catalog, with exit
// 1; once space is freed, everything works again and the audit log still
// verifies.
func TestFullStateDisk(t *testing.T) {
	testenv.SmallDisk(t, 16<<20, func(dir string) {
		if code, out, errOut := stewardRun(t, dir, "", "init"); code != 0 {
			t.Fatalf("init: %d\n%s%s", code, out, errOut)
		}
		cfg, _ := os.ReadFile(filepath.Join(repoRoot(t), "examples", "minimal.yaml"))
		os.WriteFile(filepath.Join(dir, "steward.yaml"), []byte(string(cfg)+"\nrestic: {path: "+testenv.Bin(t, "restic")+"}\n"), 0o600)
		cat := filepath.Join(dir, "steward-state", "catalog.db")
		filler := testenv.FillDisk(t, dir)

		code, out, errOut := stewardRun(t, dir, "", "status")
		if code != 0 || !strings.Contains(out, "(schema ") || !strings.Contains(out, "the state dir's disk is full ("+cat+")") {
			t.Errorf("status on a full disk: exit %d\n%s%s", code, out, errOut)
		}
		if code, out, errOut := stewardRun(t, dir, "", "drill", "list"); code != 0 {
			t.Errorf("drill list on a full disk: exit %d\n%s%s", code, out, errOut)
		}
		for range 2 {
			code, out, errOut = stewardRun(t, dir, "", "audit", "verify")
			if code != exitFailure || !strings.Contains(errOut, "the audit log verified (1 records") ||
				!strings.Contains(errOut, "the state dir's disk is full ("+cat+"): free space on that disk and run the command again; nothing was recorded") {
				t.Errorf("audit verify on a full disk: exit %d\n%s%s", code, out, errOut)
			}
		}

		os.Remove(filler)
		for _, args := range [][]string{{"audit", "verify"}, {"status"}} {
			if code, out, errOut := stewardRun(t, dir, "", args...); code != 0 || strings.Contains(out, "disk is full") {
				t.Errorf("%v after freeing space: exit %d\n%s%s", args, code, out, errOut)
			}
		}
	})
}
