package app

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"steward/internal/audit"
	"steward/internal/auth"
	"steward/internal/server"
)

// TestConsoleBackendAudit: the check history is the audit log's
// repository.check records, newest first, at most limit; the audit pages
// go back from the head, each below the last one shown.
func TestConsoleBackendAudit(t *testing.T) {
	a := newTestApp(t)
	ctx := context.Background()
	b := &consoleBackend{a: a}
	for i := range 3 {
		if err := a.Record(ctx, "repository.check", "repository:tokyo", audit.ResultOK, map[string]string{"read_data_subset": fmt.Sprintf("%d/12", i+1)}); err != nil {
			t.Fatal(err)
		}
		if err := a.Record(ctx, "other", "x", audit.ResultOK, nil); err != nil {
			t.Fatal(err)
		}
	}
	checks, err := b.Checks(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(checks) != 2 || checks[0].Detail != "read-data-subset 3/12" || checks[1].Detail != "read-data-subset 2/12" || checks[0].Repository != "tokyo" {
		t.Errorf("checks: %+v", checks)
	}
	head, _, err := a.Audit.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	page, err := b.Audit(ctx, 0, 4)
	if err != nil {
		t.Fatal(err)
	}
	if len(page) != 4 || page[0].Seq != head || page[3].Seq != head-3 {
		t.Fatalf("first page: %d records from %d (head %d)", len(page), page[0].Seq, head)
	}
	next, err := b.Audit(ctx, page[3].Seq, 4)
	if err != nil {
		t.Fatal(err)
	}
	if len(next) == 0 || next[0].Seq != head-4 {
		t.Errorf("second page starts at %d, want %d", next[0].Seq, head-4)
	}
	if last, _ := b.Audit(ctx, 1, 4); len(last) != 0 {
		t.Errorf("below record 1: %d records", len(last))
	}
}

// TestConsoleAccounts: the console logs in through internal/auth; auth's refusals reach the console as its own errors,
// and roles decide the console's actions as auth's table says.
func TestConsoleAccounts(t *testing.T) {
	a := newTestApp(t)
	ctx := context.Background()
	ops := a.Auth()
	for name, role := range map[string]auth.Role{"bob": auth.RoleApprover, "audrey": auth.RoleAuditor} {
		if err := ops.Add(ctx, name, role, "Good-Password-2026!", "os:test"); err != nil {
			t.Fatal(err)
		}
	}
	acc := consoleAccounts{ops}
	op, err := acc.Login(ctx, "audrey", "Good-Password-2026!", "console")
	if err != nil || op != (server.Operator{Name: "audrey", Role: "auditor"}) {
		t.Fatalf("login: %+v %v", op, err)
	}
	if acc.Can(op, server.ActionApproveErase) || !acc.Can(op, server.ActionViewAudit) || !acc.Can(op, server.ActionView) {
		t.Error("the auditor's rights are not auth's")
	}
	if bob := (server.Operator{Name: "bob", Role: "approver"}); !acc.Can(bob, server.ActionApproveErase) || acc.Can(bob, server.Action("nonsense")) {
		t.Error("the approver's rights are not auth's")
	}
	for i := 1; i <= 5; i++ {
		_, err := acc.Login(ctx, "bob", "Wrong-Password-2026!", "console")
		want := server.ErrBadLogin
		if i == 5 {
			want = server.ErrLockedOut
		}
		if !errors.Is(err, want) {
			t.Errorf("wrong password %d: %v, want %v", i, err, want)
		}
	}
	if _, err := acc.Login(ctx, "bob", "Good-Password-2026!", "console"); !errors.Is(err, server.ErrLockedOut) {
		t.Errorf("the right password after the lockout: %v", err)
	}
	// A session's look-up on each request sees the lockout, a disabled
	// account, one that does not exist, and the current role.
	if _, err := acc.Lookup(ctx, "bob"); !errors.Is(err, server.ErrLockedOut) {
		t.Errorf("look-up of a locked account: %v", err)
	}
	if _, err := acc.Lookup(ctx, "nobody"); !errors.Is(err, server.ErrBadLogin) {
		t.Errorf("look-up of no account: %v", err)
	}
	if op, err := acc.Lookup(ctx, "audrey"); err != nil || op.Role != "auditor" {
		t.Errorf("look-up of audrey: %+v %v", op, err)
	}
	if err := ops.Disable(ctx, "audrey", "os:test"); err != nil {
		t.Fatal(err)
	}
	if _, err := acc.Lookup(ctx, "audrey"); !errors.Is(err, server.ErrDisabled) {
		t.Errorf("look-up of a disabled account: %v", err)
	}
}
