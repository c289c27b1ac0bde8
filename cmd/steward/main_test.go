package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"steward/app"
	"steward/certs"
	"steward/internal/audit"
	"steward/internal/config"
	"steward/internal/errs"
	"steward/internal/resticx"
)

// stewardRun runs one command line in dir and returns exit code and output.
func stewardRun(t *testing.T, dir string, stdin string, args ...string) (int, string, string) {
	t.Helper()
	wd, _ := os.Getwd()
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	defer os.Chdir(wd)
	var out, errb bytes.Buffer
	code := run(context.Background(), append([]string{"steward"}, args...), strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func repoRoot(t *testing.T) string {
	t.Helper()
	wd, _ := os.Getwd()
	return filepath.Join(wd, "..", "..")
}

// initDemo runs `steward init` on the embedded default in a new dir.
func initDemo(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	code, out, errOut := stewardRun(t, dir, "", "init")
	if code != 0 {
		t.Fatalf("init: %d\n%s%s", code, out, errOut)
	}
	return dir
}

func TestInit(t *testing.T) {
	dir := initDemo(t)
	state := filepath.Join(dir, "steward-state")
	for path, mode := range map[string]os.FileMode{
		state: 0o700, filepath.Join(state, "keys", "master.key"): 0o600, filepath.Join(state, "keys", "signing.key"): 0o600,
		filepath.Join(state, "catalog.db"): 0o600, filepath.Join(state, "audit.jsonl"): 0o600,
	} {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != mode {
			t.Errorf("%s mode %v, want %v", path, st.Mode().Perm(), mode)
		}
	}
	before, _ := os.ReadFile(filepath.Join(state, "keys", "master.key"))
	code, _, errOut := stewardRun(t, dir, "", "init")
	if code != exitUsage || !strings.Contains(errOut, "never overwrites") {
		t.Fatalf("second init: %d %s", code, errOut)
	}
	after, _ := os.ReadFile(filepath.Join(state, "keys", "master.key"))
	if !bytes.Equal(before, after) {
		t.Fatal("second init changed the master key")
	}
}

func TestInitJSONAndStatus(t *testing.T) {
	dir := t.TempDir()
	code, out, _ := stewardRun(t, dir, "", "--json", "--state-dir", "st", "init")
	var res app.InitResult
	if code != 0 || json.Unmarshal([]byte(out), &res) != nil || len(res.Fingerprint) != 64 || !res.Generated {
		t.Fatalf("init --json: %d %s", code, out)
	}
	code, out, _ = stewardRun(t, dir, "", "--json", "--state-dir", "st", "status")
	var st app.StatusResult
	if code != 0 || json.Unmarshal([]byte(out), &st) != nil {
		t.Fatalf("status: %d %s", code, out)
	}
	if !st.Initialised || st.Certificate != res.Fingerprint || st.AuditRecords != 1 || !strings.HasSuffix(st.Now, "+09:00") || st.Clock.State == "" {
		t.Fatalf("status %+v", st)
	}
}

func TestStatusWarnsNearContractEnd(t *testing.T) {
	dir := t.TempDir()
	cfg := strings.Replace(string(mustRead(t, filepath.Join(repoRoot(t), "examples", "minimal.yaml"))), "2099-03-31", time.Now().AddDate(0, 0, 30).Format(time.DateOnly), 1)
	os.WriteFile(filepath.Join(dir, "steward.yaml"), []byte(cfg), 0o600)
	code, out, _ := stewardRun(t, dir, "", "status")
	if code != 0 || !strings.Contains(out, "warning: the contract ends on") {
		t.Fatalf("status: %d %s", code, out)
	}
}

func TestConfigCheck(t *testing.T) {
	dir := t.TempDir()
	// The example names secrets this machine does not hold: its form is
	// valid, and without --without-secrets each missing secret is named.
	code, out, _ := stewardRun(t, dir, "", "--config", filepath.Join(repoRoot(t), "examples", "full.yaml"), "config", "check", "--without-secrets")
	if code != 0 || !strings.Contains(out, "OK") {
		t.Fatalf("full example: %d %s", code, out)
	}
	code, out, _ = stewardRun(t, dir, "", "--config", filepath.Join(repoRoot(t), "examples", "full.yaml"), "config", "check")
	if code != exitUsage || !strings.Contains(out, "repositories[0].s3.access_key: environment variable TOKYO_ACCESS_KEY_ID is not set") {
		t.Fatalf("full example with its secrets missing: %d %s", code, out)
	}
	bad := `
contract: {id: C1, customer: City, service: Svc, end_date: 2099-01-01}
repositories:
  - name: r1
    local: {path: /tmp/r1}
sources:
  - name: s1
    path: {path: /tmp/s1}
  - name: s2
    s3: {endpoint: "127.0.0.1:9000", access_key: env:A, secret_key: env:B}
jobs:
  - name: j1
    sources: [s1, s9]
    repository: r1
    schedul: "0 2 * * *"
`
	path := filepath.Join(dir, "bad.yaml")
	os.WriteFile(path, []byte(bad), 0o600)
	code, out, errOut := stewardRun(t, dir, "", "--config", path, "config", "check")
	if code != exitUsage {
		t.Fatalf("bad config exit %d", code)
	}
	for _, want := range []string{"3 problem(s)", "sources[1].s3.bucket", "jobs[0].sources[1]", "jobs[0].schedul"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(errOut, "not valid") {
		t.Errorf("stderr: %s", errOut)
	}
	code, out, _ = stewardRun(t, dir, "", "--json", "--config", path, "config", "check")
	var res configCheckResult
	if code != exitUsage || json.Unmarshal([]byte(out), &res) != nil || len(res.Problems) != 3 || res.OK {
		t.Fatalf("--json: %d %s", code, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "steward-state")); err == nil {
		t.Fatal("config check created a state dir")
	}
}

func TestUsageErrors(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{{"bogus"}, {"status", "--bogus"}, {"audit", "bogus"}, {"--log-level", "loud", "audit", "verify"}, {"verify"}} {
		if code, _, errOut := stewardRun(t, dir, "", args...); code != exitUsage {
			t.Errorf("%v: exit %d (%s)", args, code, errOut)
		}
	}
	if code, _, errOut := stewardRun(t, dir, "", "audit", "verify"); code != exitFailure || !strings.Contains(errOut, "steward init") {
		t.Errorf("verify before init: %d %s", code, errOut)
	}
}

func TestHelpListsExitCodes(t *testing.T) {
	code, out, _ := stewardRun(t, t.TempDir(), "", "--help")
	for _, want := range []string{"EXIT CODES", "130", "init", "audit", "verify"} {
		if !strings.Contains(out, want) {
			t.Errorf("help lacks %q", want)
		}
	}
	if code != 0 {
		t.Fatal(code)
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func auditLines(t *testing.T, dir string) [][]byte {
	t.Helper()
	data := mustRead(t, filepath.Join(dir, "steward-state", "audit.jsonl"))
	return bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n"))
}

// TestAuditVerifyAndTampering: a record whose content was edited (one
// byte of its target, its seq untouched), one removed and two swapped are
// each found at seq 2, for what they are.
func TestAuditVerifyAndTampering(t *testing.T) {
	tests := []struct {
		name   string
		tamper func(t *testing.T, ls [][]byte) [][]byte
		reason string
	}{
		{"byte changed", func(t *testing.T, ls [][]byte) [][]byte {
			// One byte of the record's content, inside its target's value
			// ("audit-log" becomes "audit-lof"): still a well-formed record
			// with the right seq, only its hash gives it away.
			i := bytes.Index(ls[1], []byte(`"target":"audit-log"`))
			if i < 0 || !bytes.HasPrefix(ls[1], []byte(`{"seq":2,`)) {
				t.Fatalf("record 2 is not the audit.verify record this test edits: %s", ls[1])
			}
			ls[1][i+len(`"target":"audit-log"`)-2] ^= 1
			return ls
		}, "hash does not match the record's content"},
		{"removed", func(_ *testing.T, ls [][]byte) [][]byte { return append(ls[:1], ls[2:]...) }, "expected seq 2, found 3"},
		{"swapped", func(_ *testing.T, ls [][]byte) [][]byte { ls[1], ls[2] = ls[2], ls[1]; return ls }, "expected seq 2, found 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := initDemo(t)
			for i := 0; i < 3; i++ {
				if code, _, e := stewardRun(t, dir, "", "audit", "verify"); code != 0 {
					t.Fatalf("verify of an untouched log: %d %s", code, e)
				}
			}
			lines := tt.tamper(t, auditLines(t, dir))
			os.WriteFile(filepath.Join(dir, "steward-state", "audit.jsonl"), append(bytes.Join(lines, []byte("\n")), '\n'), 0o600)
			code, out, _ := stewardRun(t, dir, "", "audit", "verify")
			if code != exitVerify || !strings.Contains(out, "first bad record is seq 2") || !strings.Contains(out, tt.reason) {
				t.Fatalf("tampered log: exit %d, want %d naming seq 2 and %q:\n%s", code, exitVerify, tt.reason, out)
			}
		})
	}
}

func TestAuditExport(t *testing.T) {
	dir := initDemo(t)
	stewardRun(t, dir, "", "audit", "verify")
	out := filepath.Join(dir, "export.jsonl")
	if code, _, e := stewardRun(t, dir, "", "audit", "export", "--since", "2000-01-01", "--output", out); code != 0 {
		t.Fatalf("export: %d %s", code, e)
	}
	lines := bytes.Split(bytes.TrimSpace(mustRead(t, out)), []byte("\n"))
	if len(lines) != 2 {
		t.Fatalf("exported %d records", len(lines))
	}
	if code, _, _ := stewardRun(t, dir, "", "audit", "export", "--output", out); code != exitUsage {
		t.Fatal("export overwrote a file")
	}
	_, stdout, _ := stewardRun(t, dir, "", "audit", "export", "--until", "2000-01-01")
	if stdout != "" {
		t.Fatalf("until filter: %s", stdout)
	}
	if code, _, _ := stewardRun(t, dir, "", "audit", "export", "--since", "yesterday"); code != exitUsage {
		t.Fatal("bad --since accepted")
	}
	// The exports themselves are audited.
	if n := len(auditLines(t, dir)); n != 4 {
		t.Fatalf("audit has %d records, want 4 (init, verify, 2 exports; refused ones change nothing)", n)
	}
}

func TestSecretSeal(t *testing.T) {
	dir := initDemo(t)
	code, out, _ := stewardRun(t, dir, "hunter2\n", "secret", "seal")
	if code != 0 || !strings.HasPrefix(out, "sealed:v1:") || strings.Contains(out, "hunter2") {
		t.Fatalf("seal: %d %s", code, out)
	}
	for _, l := range auditLines(t, dir) {
		if bytes.Contains(l, []byte("hunter2")) {
			t.Fatal("secret in the audit log")
		}
	}
	if code, _, _ := stewardRun(t, dir, "", "secret", "seal"); code != exitUsage {
		t.Fatal("empty secret accepted")
	}
}

// TestExitCodeMapping: every error exitCode maps, bare and wrapped, gets
// its code, and --help lists each code.
func TestExitCodeMapping(t *testing.T) {
	live := context.Background()
	cancelled, cancel := context.WithCancel(live)
	cancel()
	wrap := func(err error) error { return fmt.Errorf("steward: doing something: %w", err) }
	tests := []struct {
		name string
		ctx  context.Context
		err  error
		want int
	}{
		{"success", live, nil, exitOK},
		{"context canceled", live, context.Canceled, exitInterrupted},
		{"restic interrupted", live, resticx.ErrInterrupted, exitInterrupted},
		{"any error once the context is cancelled", cancelled, errors.New("restic: signal: killed"), exitInterrupted},
		{"usage", live, errs.Usage("--job: no job named %q", "x"), exitUsage},
		{"made usage", live, errs.AsUsage(errors.New("bad flag")), exitUsage},
		{"config problems", live, config.Problems{{Path: "jobs[0].repository", Message: "name the primary repository"}}, exitUsage},
		{"verification failed", live, errs.ErrVerificationFailed, exitVerify},
		{"audit log tampered", live, audit.ErrTampered, exitVerify},
		{"signature verification failed", live, certs.ErrVerificationFailed, exitVerify},
		{"any other failure", live, errors.New("disk full"), exitFailure},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := exitCode(tt.ctx, tt.err); got != tt.want {
				t.Errorf("exitCode(%v) = %d, want %d", tt.err, got, tt.want)
			}
			if tt.err == nil {
				return
			}
			if got := exitCode(tt.ctx, wrap(tt.err)); got != tt.want {
				t.Errorf("exitCode(wrapped %v) = %d, want %d", tt.err, got, tt.want)
			}
		})
	}
	_, help, _ := stewardRun(t, t.TempDir(), "", "--help")
	for _, code := range []int{exitOK, exitFailure, exitUsage, exitVerify, exitInterrupted} {
		if !regexp.MustCompile(`(?m)^\s+` + strconv.Itoa(code) + `\s+\S`).MatchString(help) {
			t.Errorf("--help does not list exit code %d:\n%s", code, help)
		}
	}
}

// TestJSONFlagAnywhere: --json works before and after the command name.
func TestJSONFlagAnywhere(t *testing.T) {
	dir := initDemo(t)
	for _, args := range [][]string{{"--json", "status"}, {"status", "--json"}, {"--json", "audit", "verify"}, {"audit", "verify", "--json"}} {
		code, out, _ := stewardRun(t, dir, "", args...)
		var v map[string]any
		if code != 0 || json.Unmarshal([]byte(out), &v) != nil {
			t.Errorf("%v: exit %d, not JSON: %s", args, code, out)
		}
	}
}

// TestBadInputExitsUsage: a secret reference to an environment variable
// that is not set, and a --fingerprint that is not a SHA-256, are the
// operator's input to fix: exit 2, with a message that names the field
// (or flag) and says what to do.
func TestBadInputExitsUsage(t *testing.T) {
	dir := t.TempDir()
	const unset = "STEWARD_TEST_NEVER_SET_ACCESS_KEY"
	os.Unsetenv(unset)
	cfg := fmt.Sprintf(`contract: {id: T-1, customer: City, service: s, end_date: 2099-03-31}
state_dir: state
restic: {path: %s}
repositories:
  - {name: disk, local: {}}
  - name: tokyo
    s3: {endpoint: "127.0.0.1:1", bucket: steward-test, region: ap-northeast-1, access_key: "env:%s", secret_key: "env:%s"}
sources:
  - {name: docs, path: {path: %s}}
jobs:
  - {name: nightly, sources: [docs], repository: disk, replicas: [tokyo]}
`, filepath.Join(repoRoot(t), "bin", "restic"), unset, unset, dir)
	os.WriteFile(filepath.Join(dir, "steward.yaml"), []byte(cfg), 0o600)
	if code, out, errOut := stewardRun(t, dir, "", "init"); code != 0 {
		t.Fatalf("init: %d %s%s", code, out, errOut)
	}
	for _, args := range [][]string{{"repo", "init", "tokyo"}, {"repo", "init"}, {"backup", "run", "--dry-run"}} {
		code, _, errOut := stewardRun(t, dir, "", args...)
		if code != exitUsage || !strings.Contains(errOut, "repositories[1].s3.access_key") || !strings.Contains(errOut, "export "+unset) {
			t.Errorf("%v with %s unset: exit %d, want %d naming the field and saying to export it:\n%s", args, unset, code, exitUsage, errOut)
		}
	}
	// Exit 2 means nothing was changed: `repo init` of every repository
	// created none of them.
	if code, out, errOut := stewardRun(t, dir, "", "repo", "init", "disk"); code != 0 || out != "disk: created\n" {
		t.Errorf("repo init disk after the refused repo init: %d %q %s", code, out, errOut)
	}

	pdf := filepath.Join(dir, "report.pdf")
	os.WriteFile(pdf, []byte("%PDF-1.7\n"), 0o600)
	for _, fp := range []string{"not-hex", strings.Repeat("ab", 31), strings.Repeat("zz", 32)} {
		code, _, errOut := stewardRun(t, dir, "", "verify", "--fingerprint", fp, pdf)
		if code != exitUsage || !strings.Contains(errOut, "--fingerprint") || !strings.Contains(errOut, "64 hex digits") {
			t.Errorf("--fingerprint %q: exit %d, want %d naming the flag:\n%s", fp, code, exitUsage, errOut)
		}
	}
	code, _, errOut := stewardRun(t, dir, "", "verify", "--cert", filepath.Join(dir, "no-such.crt"), pdf)
	if code != exitUsage || !strings.Contains(errOut, "--cert") {
		t.Errorf("--cert of a missing file: exit %d, want %d naming the flag:\n%s", code, exitUsage, errOut)
	}
}
