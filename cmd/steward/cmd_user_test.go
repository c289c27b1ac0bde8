package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"steward/internal/audit"
	"steward/internal/auth"
)

const (
	adminPW = "Admin-Secret-1"
	bobPW   = "Bob-Secret-22!"
)

// auditRecords reads the audit mirror of the state dir under dir.
func auditRecords(t *testing.T, stateDir string) []audit.Record {
	t.Helper()
	f, err := os.Open(filepath.Join(stateDir, "audit.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []audit.Record
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r audit.Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// TestUserCommands: the first admin is added by the host user with the
// password from standard input; afterwards --as ADMIN (password first,
// then the new one) is needed, a wrong admin password or a weak new one
// changes nothing, and list --json shows the accounts without hashes.
func TestUserCommands(t *testing.T) {
	dir := initDemo(t)
	if code, out, errOut := stewardRun(t, dir, "", "user", "list"); code != 0 || !strings.Contains(out, "no operator accounts") {
		t.Fatalf("list of none: exit %d\n%s%s", code, out, errOut)
	}
	if code, out, errOut := stewardRun(t, dir, adminPW+"\n", "user", "add", "admin", "--role", "admin"); code != 0 || !strings.Contains(out, "added") {
		t.Fatalf("first admin: exit %d\n%s%s", code, out, errOut)
	}
	for _, tt := range []struct {
		name, stdin string
		args        []string
		code        int
		frag        string
	}{
		{"no --as", bobPW + "\n", []string{"user", "add", "bob", "--role", "approver"}, exitUsage, "--as ADMIN"},
		{"no role", "", []string{"user", "add", "bob", "--as", "admin"}, exitUsage, "--role"},
		{"bad role", "", []string{"user", "add", "bob", "--role", "root", "--as", "admin"}, exitUsage, "unknown role"},
		{"wrong admin password", "Wrong-Secret-1\n" + bobPW + "\n", []string{"user", "add", "bob", "--role", "approver", "--as", "admin"}, exitFailure, "login failed"},
		{"weak password", adminPW + "\nbob12345\n", []string{"user", "add", "bob", "--role", "approver", "--as", "admin"}, exitUsage,
			"password is too short (8 characters, at least 12) and has no upper-case letter and no symbol"},
		{"no new password", adminPW + "\n", []string{"user", "add", "bob", "--role", "approver", "--as", "admin"}, exitUsage, "nothing more on standard input"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if code, out, errOut := stewardRun(t, dir, tt.stdin, tt.args...); code != tt.code || !strings.Contains(errOut, tt.frag) {
				t.Fatalf("exit %d, want %d with %q\n%s%s", code, tt.code, tt.frag, out, errOut)
			}
		})
	}
	if code, out, errOut := stewardRun(t, dir, adminPW+"\n"+bobPW+"\n", "user", "add", "bob", "--role", "approver", "--as", "admin"); code != 0 {
		t.Fatalf("add bob: exit %d\n%s%s", code, out, errOut)
	}
	// An approver may not manage accounts.
	if code, out, errOut := stewardRun(t, dir, bobPW+"\n", "user", "disable", "admin", "--as", "bob"); code != exitFailure || !strings.Contains(errOut, auth.ErrForbidden.Error()) {
		t.Fatalf("disable by an approver: exit %d\n%s%s", code, out, errOut)
	}
	// Bob changes his own password with the current one.
	if code, out, errOut := stewardRun(t, dir, bobPW+"\nBob-Secret-33?\n", "user", "passwd", "bob"); code != 0 {
		t.Fatalf("passwd of one's own: exit %d\n%s%s", code, out, errOut)
	}

	// Five wrong current passwords lock bob; an admin unlocks him.
	for i := 1; i <= 5; i++ {
		code, out, errOut := stewardRun(t, dir, "Bob-Guess-0!\nBob-Secret-44?\n", "user", "passwd", "bob")
		want := "login failed"
		if i == 5 {
			want = "locked"
		}
		if code != exitFailure || !strings.Contains(errOut, want) {
			t.Fatalf("wrong current password %d: exit %d, want %q\n%s%s", i, code, want, out, errOut)
		}
	}
	if _, out, _ := stewardRun(t, dir, "", "user", "list"); !strings.Contains(out, "locked until unlocked") {
		t.Fatalf("list does not show bob locked:\n%s", out)
	}
	if code, out, errOut := stewardRun(t, dir, "Bob-Secret-33?\nBob-Secret-44?\n", "user", "passwd", "bob"); code != exitFailure || !strings.Contains(errOut, "locked") {
		t.Fatalf("right password while locked: exit %d\n%s%s", code, out, errOut)
	}
	if code, out, errOut := stewardRun(t, dir, adminPW+"\n", "user", "unlock", "bob", "--as", "admin"); code != 0 || !strings.Contains(out, "unlocked") {
		t.Fatalf("unlock: exit %d\n%s%s", code, out, errOut)
	}

	code, out, errOut := stewardRun(t, dir, "", "--json", "user", "list")
	if code != 0 {
		t.Fatalf("list --json: exit %d\n%s%s", code, out, errOut)
	}
	var got []auth.OperatorInfo
	if strings.Count(out, "\n") != 1 || json.Unmarshal([]byte(out), &got) != nil {
		t.Fatalf("list --json is not one line holding an array:\n%s", out)
	}
	if len(got) != 2 || got[0].Name != "admin" || got[0].Role != auth.RoleAdmin || got[1].Name != "bob" || got[1].Role != auth.RoleApprover ||
		got[1].Failures != 0 || got[1].Locked || got[1].PasswordChanged == "" {
		t.Fatalf("list --json = %+v", got)
	}
	if strings.Contains(out, "argon2") || strings.Contains(out, "hash") {
		t.Fatalf("list shows hashes: %s", out)
	}

	actors := map[string]string{}
	for _, r := range auditRecords(t, filepath.Join(dir, "steward-state")) {
		line := fmt.Sprint(r)
		for _, pw := range []string{adminPW, bobPW, "Bob-Secret-33?", "Wrong-Secret-1", "bob12345"} {
			if strings.Contains(line, pw) {
				t.Errorf("audit record %d holds a password: %s", r.Seq, line)
			}
		}
		actors[r.Action+" "+r.Target+" "+r.Result] = r.Actor
	}
	for key, want := range map[string]string{
		"user.add user:admin ok":         audit.OSActor(),
		"user.add user:bob ok":           "user:admin",
		"auth.login user:admin failed":   "user:admin",
		"auth.forbidden user:bob denied": "user:bob",
		"user.passwd user:bob ok":        "user:bob",
		"user.list operators ok":         audit.OSActor(),
	} {
		if actors[key] != want {
			t.Errorf("audit %q by %q, want %q", key, actors[key], want)
		}
	}
}
