package auth

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"steward/internal/audit"
	"steward/internal/catalog"
	"steward/internal/clock"
)

var ctx = context.Background()

const (
	alicePW = "Alice-Secret-1"
	wrongPW = "Wrong-Guess-99"
)

type fixture struct {
	svc   *Service
	store *catalog.SQLite
	clock *clock.Fake
}

// newFixture is a Service over a real SQLite catalog and audit log, with
// an account alice (operator) and fast hash parameters.
func newFixture(t *testing.T, p Policy) *fixture {
	t.Helper()
	dir := t.TempDir()
	store, err := catalog.Create(ctx, filepath.Join(dir, "catalog.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	fake := clock.NewFake(time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC))
	zoned := clock.New(time.FixedZone("JST", 9*3600), fake)
	svc := New(store, p, zoned, audit.New(store, filepath.Join(dir, "audit.jsonl"), zoned))
	svc.params = fastParams
	if err := svc.Add(ctx, "alice", RoleOperator, alicePW, "os:root"); err != nil {
		t.Fatal(err)
	}
	return &fixture{svc: svc, store: store, clock: fake}
}

// records returns the audit records with this action.
func (f *fixture) records(t *testing.T, action string) []audit.Record {
	t.Helper()
	var out []audit.Record
	if err := f.store.ScanAudit(ctx, func(r audit.Record) error {
		if r.Action == action {
			out = append(out, r)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func (f *fixture) info(t *testing.T, name string) OperatorInfo {
	t.Helper()
	all, err := f.svc.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range all {
		if i.Name == name {
			return i
		}
	}
	t.Fatalf("%s not listed", name)
	return OperatorInfo{}
}

func TestLoginSuccessAndFailureAudited(t *testing.T) {
	f := newFixture(t, DefaultPolicy())
	op, err := f.svc.Login(ctx, "alice", alicePW, "cli")
	if err != nil || op != (Operator{Name: "alice", Role: RoleOperator}) {
		t.Fatalf("login = %+v, %v", op, err)
	}
	if _, err := f.svc.Login(ctx, "alice", wrongPW, "console 192.0.2.1:5555"); !errors.Is(err, ErrBadLogin) {
		t.Fatalf("wrong password: err = %v, want ErrBadLogin", err)
	}
	if _, err := f.svc.Login(ctx, "mallory", wrongPW, "cli"); !errors.Is(err, ErrBadLogin) {
		t.Fatalf("unknown user: err = %v, want ErrBadLogin", err)
	}
	recs := f.records(t, AuditLogin)
	if len(recs) != 3 {
		t.Fatalf("%d login records, want 3", len(recs))
	}
	want := []struct{ actor, result, via, reason string }{
		{"user:alice", audit.ResultOK, "cli", ""},
		{"user:alice", audit.ResultFailed, "console 192.0.2.1:5555", "wrong password"},
		{"user:mallory", audit.ResultFailed, "cli", "unknown user"},
	}
	for i, w := range want {
		r := recs[i]
		if r.Actor != w.actor || r.Result != w.result || r.Details["via"] != w.via || r.Details["reason"] != w.reason {
			t.Errorf("login record %d = %+v, want actor %s result %s via %q reason %q", i, r, w.actor, w.result, w.via, w.reason)
		}
	}
}

func TestLockoutAndUnlock(t *testing.T) {
	f := newFixture(t, DefaultPolicy())
	for i := 1; i <= 4; i++ {
		if _, err := f.svc.Login(ctx, "alice", wrongPW, "cli"); !errors.Is(err, ErrBadLogin) {
			t.Fatalf("failure %d: err = %v, want ErrBadLogin", i, err)
		}
	}
	if got := f.info(t, "alice"); got.Failures != 4 || got.Locked {
		t.Fatalf("after 4 failures: %+v", got)
	}
	if _, err := f.svc.Login(ctx, "alice", wrongPW, "cli"); !errors.Is(err, ErrLockedOut) {
		t.Fatalf("fifth failure: err = %v, want ErrLockedOut", err)
	}
	if _, err := f.svc.Login(ctx, "alice", alicePW, "cli"); !errors.Is(err, ErrLockedOut) {
		t.Fatalf("right password while locked: err = %v, want ErrLockedOut", err)
	}
	f.clock.Advance(365 * 24 * time.Hour)
	if _, err := f.svc.Login(ctx, "alice", alicePW, "cli"); !errors.Is(err, ErrLockedOut) {
		t.Fatalf("a year later without a period: err = %v, want ErrLockedOut", err)
	}
	if got := f.info(t, "alice"); !got.Locked || got.LockedUntil != "" || got.Failures != 5 {
		t.Fatalf("locked until unlocked: %+v", got)
	}
	lock := f.records(t, AuditLockout)
	if len(lock) != 1 || lock[0].Target != "user:alice" || lock[0].Details["failures"] != "5" || lock[0].Details["locked_until"] != "until unlocked" {
		t.Fatalf("lockout records = %+v", lock)
	}
	if err := f.svc.Unlock(ctx, "alice", "user:admin"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Login(ctx, "alice", alicePW, "cli"); err != nil {
		t.Fatalf("after unlock: %v", err)
	}
	if got := f.info(t, "alice"); got.Locked || got.Failures != 0 {
		t.Fatalf("after unlock and login: %+v", got)
	}
	un := f.records(t, AuditUnlock)
	if len(un) != 1 || un[0].Actor != "user:admin" || un[0].Target != "user:alice" {
		t.Fatalf("unlock records = %+v", un)
	}
	denied := 0
	for _, r := range f.records(t, AuditLogin) {
		if r.Result == audit.ResultDenied && r.Details["reason"] == "locked" {
			denied++
		}
	}
	if denied != 2 {
		t.Fatalf("%d logins denied as locked on record, want 2", denied)
	}
	if err := f.svc.Unlock(ctx, "nobody", "user:admin"); !errors.Is(err, ErrNoUser) {
		t.Fatalf("unlock of an unknown user: %v", err)
	}
}

func TestSuccessResetsFailures(t *testing.T) {
	f := newFixture(t, DefaultPolicy())
	for range 4 {
		f.svc.Login(ctx, "alice", wrongPW, "cli")
	}
	if _, err := f.svc.Login(ctx, "alice", alicePW, "cli"); err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		if _, err := f.svc.Login(ctx, "alice", wrongPW, "cli"); !errors.Is(err, ErrBadLogin) {
			t.Fatalf("failure %d after a success: %v (the count was not reset)", i+1, err)
		}
	}
}

func TestLockoutPeriodExpires(t *testing.T) {
	p := DefaultPolicy()
	p.LockoutAfter, p.LockoutPeriod = 3, 15*time.Minute
	f := newFixture(t, p)
	for range 3 {
		f.svc.Login(ctx, "alice", wrongPW, "cli")
	}
	got := f.info(t, "alice")
	if !got.Locked || got.LockedUntil != "2026-04-01T18:15:00.000+09:00" {
		t.Fatalf("locked for 15 minutes: %+v", got)
	}
	f.clock.Advance(14 * time.Minute)
	if _, err := f.svc.Login(ctx, "alice", alicePW, "cli"); !errors.Is(err, ErrLockedOut) {
		t.Fatalf("14 minutes later: %v, want ErrLockedOut", err)
	}
	f.clock.Advance(time.Minute)
	if _, err := f.svc.Login(ctx, "alice", alicePW, "cli"); err != nil {
		t.Fatalf("15 minutes later: %v", err)
	}
	un := f.records(t, AuditUnlock)
	if len(un) != 1 || un[0].Actor != "system" || un[0].Details["reason"] != "lockout period passed" {
		t.Fatalf("unlock records = %+v", un)
	}
	// After expiry the count starts again from zero.
	f.svc.Login(ctx, "alice", wrongPW, "cli")
	if got := f.info(t, "alice"); got.Locked || got.Failures != 1 {
		t.Fatalf("one failure after expiry: %+v", got)
	}
}

func TestConcurrentFailedLoginsAllCount(t *testing.T) {
	p := DefaultPolicy()
	p.LockoutAfter = 100
	f := newFixture(t, p)
	const n = 12
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := f.svc.Login(ctx, "alice", wrongPW, "cli"); !errors.Is(err, ErrBadLogin) {
				t.Errorf("concurrent failure: %v", err)
			}
		}()
	}
	wg.Wait()
	if got := f.info(t, "alice"); got.Failures != n {
		t.Fatalf("failures after %d concurrent wrong logins = %d", n, got.Failures)
	}
}

func TestDisabled(t *testing.T) {
	f := newFixture(t, DefaultPolicy())
	if err := f.svc.Disable(ctx, "alice", "user:admin"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Login(ctx, "alice", alicePW, "cli"); !errors.Is(err, ErrDisabled) {
		t.Fatalf("disabled, right password: %v", err)
	}
	if _, err := f.svc.Login(ctx, "alice", wrongPW, "cli"); !errors.Is(err, ErrBadLogin) {
		t.Fatalf("disabled, wrong password: %v, want ErrBadLogin", err)
	}
	if err := f.svc.Enable(ctx, "alice", "user:admin"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Login(ctx, "alice", alicePW, "cli"); err != nil {
		t.Fatalf("enabled again: %v", err)
	}
	if len(f.records(t, AuditDisable)) != 1 || len(f.records(t, AuditEnable)) != 1 {
		t.Fatal("disable and enable are not on record")
	}
}

func TestAddAndSetPassword(t *testing.T) {
	f := newFixture(t, DefaultPolicy())
	if err := f.svc.Add(ctx, "alice", RoleAdmin, "Another-Pass-2", "os:root"); !errors.Is(err, ErrUserExists) {
		t.Fatalf("add twice: %v", err)
	}
	if err := f.svc.Add(ctx, "bob", "root", "Another-Pass-2", "os:root"); err == nil || !strings.Contains(err.Error(), "unknown role") {
		t.Fatalf("unknown role: %v", err)
	}
	if err := f.svc.Add(ctx, "bob smith", RoleAdmin, "Another-Pass-2", "os:root"); err == nil || !strings.Contains(err.Error(), "user name") {
		t.Fatalf("name with a space: %v", err)
	}
	if err := f.svc.Add(ctx, "bob", RoleAdmin, "short", "os:root"); !errors.Is(err, ErrWeakPassword) {
		t.Fatalf("weak password: %v", err)
	}
	if err := f.svc.Add(ctx, "Bob.Suzuki-99", RoleAdmin, "bob.suzuki-99", "os:root"); !errors.Is(err, ErrWeakPassword) {
		t.Fatalf("password = name: %v", err)
	}
	if err := f.svc.SetPassword(ctx, "alice", "New-Secret-Pass-3", "user:alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Login(ctx, "alice", alicePW, "cli"); !errors.Is(err, ErrBadLogin) {
		t.Fatalf("old password after change: %v", err)
	}
	if _, err := f.svc.Login(ctx, "alice", "New-Secret-Pass-3", "cli"); err != nil {
		t.Fatalf("new password: %v", err)
	}
	if err := f.svc.SetPassword(ctx, "nobody", "New-Secret-Pass-3", "user:alice"); !errors.Is(err, ErrNoUser) {
		t.Fatalf("set password of an unknown user: %v", err)
	}
	if err := f.svc.SetPassword(ctx, "alice", "weak", "user:alice"); !errors.Is(err, ErrWeakPassword) {
		t.Fatalf("weak new password: %v", err)
	}
	if len(f.records(t, AuditAdd)) != 1 || len(f.records(t, AuditPassword)) != 1 {
		t.Fatal("add and password change are not on record once each")
	}
	ok, err := f.svc.HasAdmin(ctx)
	if err != nil || ok {
		t.Fatalf("HasAdmin with only an operator = %v, %v", ok, err)
	}
}

// TestNoPasswordInAudit: no record (catalog or mirror) holds a password
// or a hash, whatever happened.
func TestNoPasswordInAudit(t *testing.T) {
	f := newFixture(t, DefaultPolicy())
	f.svc.Login(ctx, "alice", alicePW, "cli")
	for range 5 {
		f.svc.Login(ctx, "alice", wrongPW, "cli")
	}
	f.svc.Unlock(ctx, "alice", "user:admin")
	f.svc.SetPassword(ctx, "alice", "New-Secret-Pass-3", "user:admin")
	f.svc.Login(ctx, "bob", "Bob-Typed-This-4", "cli")
	n := 0
	if err := f.store.ScanAudit(ctx, func(r audit.Record) error {
		n++
		s := show(r)
		for _, secret := range []string{alicePW, wrongPW, "New-Secret-Pass-3", "Bob-Typed-This-4", "argon2id"} {
			if strings.Contains(s, secret) {
				t.Errorf("audit record %d holds %q: %s", r.Seq, secret, s)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n < 10 {
		t.Fatalf("only %d audit records", n)
	}
}

func show(r audit.Record) string {
	var b strings.Builder
	b.WriteString(r.Actor + " " + r.Action + " " + r.Target + " " + r.Result)
	for k, v := range r.Details {
		b.WriteString(" " + k + "=" + v)
	}
	return b.String()
}

func TestLookup(t *testing.T) {
	f := newFixture(t, DefaultPolicy())
	if op, err := f.svc.Lookup(ctx, "alice"); err != nil || op != (Operator{Name: "alice", Role: RoleOperator}) {
		t.Fatalf("lookup = %+v, %v", op, err)
	}
	if _, err := f.svc.Lookup(ctx, "nobody"); !errors.Is(err, ErrNoUser) {
		t.Fatalf("lookup of an unknown user: %v", err)
	}
	for range 5 {
		f.svc.Login(ctx, "alice", wrongPW, "cli")
	}
	if _, err := f.svc.Lookup(ctx, "alice"); !errors.Is(err, ErrLockedOut) {
		t.Fatalf("lookup of a locked account: %v", err)
	}
	f.svc.Unlock(ctx, "alice", "user:admin")
	f.svc.Disable(ctx, "alice", "user:admin")
	if _, err := f.svc.Lookup(ctx, "alice"); !errors.Is(err, ErrDisabled) {
		t.Fatalf("lookup of a disabled account: %v", err)
	}
}
