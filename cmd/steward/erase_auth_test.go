package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"steward/internal/audit"
	"steward/internal/auth"
)

// TestEraseAsOperatorAccount: without operator accounts --as is taken
// unchecked, with a warning, and recorded as unauthenticated; once
// accounts exist, --as needs the operator's password (a wrong one is
// refused and changes nothing) and a role that allows the step, the
// records name the logged-in operator, and the planner still cannot
// approve.
func TestEraseAsOperatorAccount(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	os.MkdirAll(data, 0o755)
	os.WriteFile(filepath.Join(data, "a.txt"), []byte("hello"), 0o644)
	os.WriteFile(filepath.Join(dir, "steward.yaml"), fmt.Appendf(nil, `contract: {id: T-1, customer: City, service: s, end_date: 2099-03-31}
state_dir: state
restic: {path: %s}
repositories:
  - {name: disk, local: {}}
sources:
  - {name: docs, path: {path: %s}}
jobs:
  - {name: nightly, sources: [docs], repository: disk}
erase: {approvers: [bob, admin], cooling_off: 1h}
`, filepath.Join(repoRoot(t), "bin", "restic"), data), 0o600)
	for _, args := range [][]string{{"init"}, {"repo", "init"}} {
		if code, out, errOut := stewardRun(t, dir, "", args...); code != 0 {
			t.Fatalf("%v: %d\n%s%s", args, code, out, errOut)
		}
	}
	planID := func(out string) string { return strings.Fields(out)[2] }

	// No accounts yet: unchecked, warned, recorded as such.
	code, out, errOut := stewardRun(t, dir, "", "erase", "plan", "--as", "carol")
	if code != 0 || !strings.Contains(errOut, "warning: no operator account exists") {
		t.Fatalf("plan without accounts: exit %d\n%s%s", code, out, errOut)
	}
	unauthPlan := planID(out)

	const alicePW, adminPW, bobPW = "Alice-Secret-1", "Admin-Secret-1", "Bob-Secret-22!"
	steps := []struct {
		stdin string
		args  []string
	}{
		{adminPW + "\n", []string{"user", "add", "admin", "--role", "admin"}},
		{adminPW + "\n" + alicePW + "\n", []string{"user", "add", "alice", "--role", "operator", "--as", "admin"}},
		{adminPW + "\n" + bobPW + "\n", []string{"user", "add", "bob", "--role", "approver", "--as", "admin"}},
	}
	for _, s := range steps {
		if code, out, errOut := stewardRun(t, dir, s.stdin, s.args...); code != 0 {
			t.Fatalf("%v: exit %d\n%s%s", s.args, code, out, errOut)
		}
	}

	// A wrong password is refused and plans nothing.
	if code, out, errOut := stewardRun(t, dir, "Alice-Guess-99\n", "erase", "plan", "--as", "alice"); code != exitFailure || !strings.Contains(errOut, "login failed") {
		t.Fatalf("plan with a wrong password: exit %d\n%s%s", code, out, errOut)
	}
	if code, out, errOut := stewardRun(t, dir, "Carol-Guess-1\n", "erase", "plan", "--as", "carol"); code != exitFailure || !strings.Contains(errOut, "login failed") {
		t.Fatalf("plan as an unknown operator once accounts exist: exit %d\n%s%s", code, out, errOut)
	}
	if _, out, _ := stewardRun(t, dir, "", "erase", "list"); strings.Count(out, "EP-") != 1 {
		t.Fatalf("a refused login made a plan:\n%s", out)
	}
	code, out, errOut = stewardRun(t, dir, alicePW+"\n", "erase", "plan", "--as", "alice")
	if code != 0 || strings.Contains(errOut, "warning") {
		t.Fatalf("plan as alice: exit %d\n%s%s", code, out, errOut)
	}
	id := planID(out)

	// An operator's role may not approve; the planner may not approve
	// even as admin; the approver may.
	approve := []string{"erase", "approve", id, "--confirm", "T-1", "--waive-handover", "the city keeps its own copy", "--as"}
	if code, out, errOut := stewardRun(t, dir, alicePW+"\n", append(approve, "alice")...); code != exitFailure || !strings.Contains(errOut, auth.ErrForbidden.Error()) {
		t.Fatalf("approve by an operator: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = stewardRun(t, dir, adminPW+"\n", "erase", "plan", "--as", "admin")
	if code != 0 {
		t.Fatalf("plan as admin: exit %d\n%s%s", code, out, errOut)
	}
	adminPlan := planID(out)
	if code, out, errOut := stewardRun(t, dir, adminPW+"\n", "erase", "approve", adminPlan, "--confirm", "T-1", "--waive-handover", "x", "--as", "admin"); code != exitFailure || !strings.Contains(errOut, "refused") {
		t.Fatalf("approve by the planner: exit %d\n%s%s", code, out, errOut)
	}
	if code, out, errOut := stewardRun(t, dir, "Bob-Guess-1\n", append(approve, "bob")...); code != exitFailure || !strings.Contains(errOut, "login failed") {
		t.Fatalf("approve with a wrong password: exit %d\n%s%s", code, out, errOut)
	}
	if code, out, errOut := stewardRun(t, dir, bobPW+"\n", append(approve, "bob")...); code != 0 || !strings.Contains(out, "approved by bob") {
		t.Fatalf("approve by bob: exit %d\n%s%s", code, out, errOut)
	}

	var planActors []string
	unauth := 0
	for _, r := range auditRecords(t, filepath.Join(dir, "state")) {
		switch r.Action {
		case "erase.plan":
			planActors = append(planActors, r.Target+" "+r.Actor)
		case "erase.approve":
			if r.Result == audit.ResultOK && r.Actor != "user:bob" {
				t.Errorf("approval recorded by %q, want user:bob", r.Actor)
			}
		case "auth.unauthenticated":
			unauth++
		}
		for _, pw := range []string{alicePW, adminPW, bobPW, "Alice-Guess-99", "Bob-Guess-1"} {
			if strings.Contains(fmt.Sprint(r), pw) {
				t.Errorf("audit record %d holds a password", r.Seq)
			}
		}
	}
	want := []string{"plan:" + unauthPlan + " unauthenticated:carol", "plan:" + id + " user:alice", "plan:" + adminPlan + " user:admin"}
	if strings.Join(planActors, ",") != strings.Join(want, ",") || unauth != 1 {
		t.Fatalf("erase.plan records %q (unauthenticated records %d), want %q and 1", planActors, unauth, want)
	}
}
