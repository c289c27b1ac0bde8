package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// jsonLines decodes out as JSON lines: each line must be exactly one JSON
// object. It returns the objects.
func jsonLines(t *testing.T, args []string, out string) []map[string]any {
	t.Helper()
	if out == "" || !strings.HasSuffix(out, "\n") {
		t.Fatalf("%v: output does not end in a newline: %q", args, out)
	}
	var objs []map[string]any
	for i, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		dec := json.NewDecoder(strings.NewReader(line))
		var v map[string]any
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("%v: line %d is not a JSON object (%v): %q\nwhole output:\n%s", args, i+1, err, line, out)
		}
		if dec.More() {
			t.Fatalf("%v: line %d holds more than one JSON value: %q", args, i+1, line)
		}
		objs = append(objs, v)
	}
	return objs
}

// mustRun runs a command that must succeed and returns its stdout.
func mustRun(t *testing.T, dir string, args ...string) string {
	t.Helper()
	code, out, errOut := stewardRun(t, dir, "", args...)
	if code != 0 {
		t.Fatalf("%v: exit %d\n%s%s", args, code, out, errOut)
	}
	return out
}

// jsonArrayLine decodes out as one line holding one JSON array (the
// listings: snapshots, drill list).
func jsonArrayLine(t *testing.T, args []string, out string) []any {
	t.Helper()
	if strings.Count(out, "\n") != 1 || !strings.HasSuffix(out, "\n") {
		t.Fatalf("%v: want one line, got:\n%s", args, out)
	}
	var v []any
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("%v: not a JSON array: %v\n%s", args, err, out)
	}
	return v
}

// TestJSONOneObjectPerLine: with --json every command prints one JSON
// value per line, so a script can read the output line by line: a result
// is one object on one line (a listing one array); a command that streams
// events prints each event, then its report, on a line of its own; an
// error on stderr is one line.
func TestJSONOneObjectPerLine(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	os.MkdirAll(filepath.Join(data, "sub"), 0o755)
	os.WriteFile(filepath.Join(data, "a.txt"), []byte("hello"), 0o644)
	os.WriteFile(filepath.Join(data, "sub", "b.txt"), []byte("world"), 0o644)
	cfg := fmt.Sprintf(`contract: {id: T-1, customer: City, service: s, end_date: 2099-03-31}
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
	os.WriteFile(filepath.Join(dir, "steward.yaml"), []byte(cfg), 0o600)

	// One object per command.
	single := func(stdin string, args ...string) map[string]any {
		t.Helper()
		args = append([]string{"--json"}, args...)
		code, out, errOut := stewardRun(t, dir, stdin, args...)
		if code != 0 {
			t.Fatalf("%v: exit %d\n%s%s", args, code, out, errOut)
		}
		objs := jsonLines(t, args, out)
		if len(objs) != 1 {
			t.Fatalf("%v: want one JSON object, got %d lines:\n%s", args, len(objs), out)
		}
		return objs[0]
	}
	if res := single("", "init"); len(res["certificate_sha256"].(string)) != 64 {
		t.Fatalf("init: %v", res)
	}
	fingerprint := single("", "status")["certificate_sha256"].(string)
	single("", "version")
	if res := single("", "config", "check"); res["ok"] != true {
		t.Fatalf("config check: %v", res)
	}
	if res := single("s3cret\n", "secret", "seal"); !strings.HasPrefix(res["sealed"].(string), "sealed:v1:") {
		t.Fatalf("secret seal: %v", res)
	}
	if n := len(jsonArrayLine(t, []string{"repo", "init"}, mustRun(t, dir, "--json", "repo", "init"))); n != 1 {
		t.Fatalf("repo init: %d results, want 1", n)
	}
	single("", "audit", "verify")
	rendered := single("", "certificate", "render", filepath.Join(repoRoot(t), "examples", "evidence.json"))
	single("", "verify", "--allow-specimen", "--fingerprint", fingerprint, rendered["path"].(string)) // render makes a specimen
	single("", "repo", "unlock", "disk")

	// Events, then the report, each on its own line.
	streamed := func(args ...string) []map[string]any {
		t.Helper()
		args = append([]string{"--json"}, args...)
		code, out, errOut := stewardRun(t, dir, "", args...)
		if code != 0 {
			t.Fatalf("%v: exit %d\n%s%s", args, code, out, errOut)
		}
		objs := jsonLines(t, args, out)
		if len(objs) < 2 {
			t.Fatalf("%v: want events and a report, got:\n%s", args, out)
		}
		return objs
	}
	objs := streamed("backup", "run")
	if last := objs[len(objs)-1]; last["kind"] != "report" || last["report"] == nil {
		t.Fatalf("backup run: last line is not the report: %v", last)
	}
	if !slices.ContainsFunc(objs, func(o map[string]any) bool { return o["kind"] == "done" && o["source"] == "docs" }) {
		t.Fatalf("backup run: no done event for docs:\n%v", objs)
	}
	objs = streamed("restore", "--to", filepath.Join(dir, "out"))
	if last := objs[len(objs)-1]; last["kind"] != "result" || last["result"] == nil {
		t.Fatalf("restore: last line is not the result: %v", last)
	}
	objs = streamed("drill", "run", "--participant", "Sato")
	last := objs[len(objs)-1]
	if last["kind"] != "report" {
		t.Fatalf("drill run: last line is not the report: %v", last)
	}
	drillID := last["drills"].([]any)[0].(map[string]any)["drill_id"].(string)
	single("", "drill", "show", drillID)
	single("", "drill", "report", drillID)
	single("", "report", "capacity")

	// Listings are one JSON array on one line.
	for _, args := range [][]string{{"--json", "repo", "init"}, {"--json", "snapshots"}, {"--json", "drill", "list"}} {
		if n := len(jsonArrayLine(t, args, mustRun(t, dir, args...))); n != 1 {
			t.Fatalf("%v: %d entries, want 1", args, n)
		}
	}

	// A failure: nothing on stdout, one object on stderr.
	args := []string{"--json", "backup", "run", "--job", "nope"}
	code, out, errOut := stewardRun(t, dir, "", args...)
	if code != exitUsage || out != "" {
		t.Fatalf("%v: exit %d, stdout %q", args, code, out)
	}
	if res := jsonLines(t, args, errOut); len(res) != 1 || res[0]["exit_code"] != float64(exitUsage) {
		t.Fatalf("%v: stderr %q", args, errOut)
	}
	if bytes.Contains([]byte(errOut), []byte("\n  ")) {
		t.Fatalf("%v: indented stderr %q", args, errOut)
	}
}
