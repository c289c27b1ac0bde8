package server

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"steward/internal/audit"
	"steward/internal/catalog"
	"steward/internal/clock"
)

// testAccounts are accounts for the console's own logic (the real ones,
// internal/auth, are in the browser test).
type testAccounts struct {
	mu  sync.Mutex
	ops map[string]Operator
}

// set changes (or, with the zero Operator, removes) an account.
func (a *testAccounts) set(name string, op Operator) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if op.Name == "" {
		delete(a.ops, name)
		return
	}
	a.ops[name] = op
}

func (a *testAccounts) Lookup(_ context.Context, name string) (Operator, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	op, ok := a.ops[name]
	if !ok {
		return Operator{}, fmt.Errorf("%q: %w", name, ErrBadLogin)
	}
	return op, nil
}

func (a *testAccounts) Login(_ context.Context, name, password, via string) (Operator, error) {
	switch {
	case via != consoleVia:
		return Operator{}, fmt.Errorf("via %q", via)
	case name == "locked":
		return Operator{}, fmt.Errorf("login: %w", ErrLockedOut)
	case password != "pw-"+name:
		return Operator{}, fmt.Errorf("login: %w", ErrBadLogin)
	}
	return a.Lookup(context.Background(), name)
}

// testRoles is the role table the auth package is to have.
type testRoles struct{}

func (testRoles) Can(op Operator, a Action) bool {
	switch op.Role {
	case "admin":
		return true
	case "auditor":
		return a == ActionView || a == ActionViewAudit
	case "approver":
		return a != ActionViewAudit
	case "operator":
		return a == ActionView || a == ActionCancelErase
	}
	return false
}

// testBackend answers with fixed values and remembers approvals.
type testBackend struct {
	mu       sync.Mutex
	approved []string
}

func (b *testBackend) Overview(context.Context) (*Overview, error) {
	return &Overview{Contract: "K-1", Customer: "市役所", EndDate: "2027-03-31", DaysLeft: 120, TimeZone: "Asia/Tokyo", Clock: "synchronised", ClockSynced: true,
		Backups:      []BackupLine{{Job: "j", Source: "s", Repository: "r", LastRun: "2026-12-01T00:00:00+09:00", LastResult: "ok"}},
		Repositories: []RepositoryLine{{Name: "r", Time: "2026-12-01T00:00:00+09:00", By: "check", Result: "ok"}, {Name: "never"}},
		LastDrill:    &Drill{ID: "d1", Result: "passed"}, Warnings: []string{"a warning"}, Attention: []string{"attend"}}, nil
}
func (b *testBackend) Checks(context.Context, int) ([]Check, error) {
	return []Check{{Seq: 3, Time: "2026-12-01T00:00:00+09:00", Repository: "r", Result: "ok"}}, nil
}
func (b *testBackend) ErasePlans(context.Context) ([]ErasePlan, error) {
	return []ErasePlan{{ID: "p1", Status: "planned", Contract: "K-1", Planner: "alice"}, {ID: "p2", Status: "approved", Contract: "K-1", Planner: "alice", Approver: "bob", Handover: "h"}}, nil
}
func (b *testBackend) ApproveErase(_ context.Context, id, approver, confirm, _ string) error {
	if confirm != "K-1" {
		return fmt.Errorf("--confirm must be the contract id typed out")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.approved = append(b.approved, id+" by "+approver)
	return nil
}
func (b *testBackend) CancelErase(context.Context, string, string, string) error { return nil }
func (b *testBackend) Audit(context.Context, int64, int) ([]audit.Record, error) {
	return []audit.Record{{Seq: 1, Actor: "a", Action: "x", Details: map[string]string{"k": "v"}}}, nil
}

type consoleServer struct {
	url      string
	clock    *clock.Fake
	store    catalog.Store
	backend  *testBackend
	accounts *testAccounts
}

func testOperators() *testAccounts {
	return &testAccounts{ops: map[string]Operator{
		"admin": {Name: "admin", Role: "admin"}, "audrey": {Name: "audrey", Role: "auditor"},
		"bob": {Name: "bob", Role: "approver"}, "oscar": {Name: "oscar", Role: "operator"},
	}}
}

// startConsole serves the handler with the console on, over a real
// catalog and audit log, timed by a fake clock.
func startConsole(t *testing.T, secure bool) *consoleServer {
	t.Helper()
	dir := t.TempDir()
	store, err := catalog.Create(context.Background(), filepath.Join(dir, "catalog.db"))
	if err != nil {
		t.Fatal(err)
	}
	fake := clock.NewFake(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC))
	zoned := clock.New(time.FixedZone("JST", 9*3600), fake)
	reports := filepath.Join(dir, "reports")
	os.Mkdir(reports, 0o700)
	os.WriteFile(filepath.Join(reports, "drill-1.pdf"), []byte("%PDF-1.7 test"), 0o600)
	b, acc := &testBackend{}, testOperators()
	h, err := New(Deps{Reader: fakeReader{}, Audit: audit.New(store, filepath.Join(dir, "audit.jsonl"), zoned), Token: NewToken([]byte(testToken)), ReportsDir: reports,
		Console: &ConsoleDeps{Backend: b, Auth: acc, Roles: testRoles{}, Clock: zoned, IdleTimeout: 15 * time.Minute, AbsoluteTimeout: 8 * time.Hour, Secure: secure}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(func() { srv.Close(); store.Close() })
	return &consoleServer{url: srv.URL, clock: fake, store: store, backend: b, accounts: acc}
}

// browser is a cookie-keeping client that does not follow redirects.
type browser struct {
	t *testing.T
	c *http.Client
	s *consoleServer
}

func (s *consoleServer) browser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, s: s, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *browser) do(method, path string, form url.Values) (*http.Response, string) {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.s.url+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp, string(out)
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(t *testing.T, page string) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF token in the page:\n%s", page)
	}
	return m[1]
}

// login logs name in and returns the overview page.
func (b *browser) login(name string) string {
	b.t.Helper()
	_, page := b.do("GET", "/ui/login", nil)
	resp, body := b.do("POST", "/ui/login", url.Values{"csrf": {csrfOf(b.t, page)}, "name": {name}, "password": {"pw-" + name}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/ui/" {
		b.t.Fatalf("login %s: %d %s\n%s", name, resp.StatusCode, resp.Header.Get("Location"), body)
	}
	resp, body = b.do("GET", "/ui/", nil)
	if resp.StatusCode != http.StatusOK {
		b.t.Fatalf("overview after login: %d\n%s", resp.StatusCode, body)
	}
	return body
}

func (s *consoleServer) records(t *testing.T) []audit.Record {
	t.Helper()
	var out []audit.Record
	if err := s.store.ScanAudit(context.Background(), func(r catalog.AuditRecord) error {
		out = append(out, r)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// has says whether a record of action by actor with result exists.
func (s *consoleServer) has(t *testing.T, actor, action, result string) bool {
	t.Helper()
	return slices.ContainsFunc(s.records(t), func(r audit.Record) bool {
		return r.Actor == actor && r.Action == action && r.Result == result
	})
}

// TestConsoleCatalogues: both languages have the same keys, and every
// page renders in both without a missing label (a missing one makes the
// page fail with 500).
func TestConsoleCatalogues(t *testing.T) {
	cats, err := loadCatalogues()
	if err != nil {
		t.Fatal(err)
	}
	ja, en := slices.Sorted(maps.Keys(cats["ja"])), slices.Sorted(maps.Keys(cats["en"]))
	for _, k := range ja {
		if _, ok := cats["en"][k]; !ok {
			t.Errorf("en lacks %q", k)
		}
	}
	for _, k := range en {
		if _, ok := cats["ja"][k]; !ok {
			t.Errorf("ja lacks %q", k)
		}
	}
	if len(cats) != 2 {
		t.Errorf("catalogues %v, want ja and en", slices.Sorted(maps.Keys(cats)))
	}
	s := startConsole(t, false)
	for _, lang := range []string{"ja", "en"} {
		for _, role := range []string{"admin", "audrey", "bob", "oscar"} {
			b := s.browser(t)
			if _, page := b.do("GET", "/ui/login?lang="+lang, nil); !strings.Contains(page, map[string]string{"ja": "ログインID", "en": "Login ID"}[lang]) {
				t.Errorf("%s login page lacks its label:\n%s", lang, page)
			}
			b.login(role)
			for _, p := range []string{"/ui/", "/ui/runs", "/ui/drills", "/ui/checks", "/ui/reports", "/ui/erase", "/ui/audit", "/ui/nowhere"} {
				resp, page := b.do("GET", p, nil)
				want := http.StatusOK
				if p == "/ui/nowhere" {
					want = http.StatusNotFound
				}
				if p == "/ui/audit" && (role == "bob" || role == "oscar") {
					want = http.StatusForbidden
				}
				if resp.StatusCode != want || !strings.Contains(page, `<html lang="`+lang+`">`) {
					t.Errorf("%s as %s, %s: %d (want %d)\n%s", p, role, lang, resp.StatusCode, want, page)
				}
			}
		}
	}
	b := s.browser(t)
	if page := b.login("admin"); !strings.Contains(page, "契約終了までの日数") || !strings.Contains(page, "市役所") {
		t.Errorf("the overview is not in Japanese by default:\n%s", page)
	}
}

// TestConsoleCSRF: a POST without the form's token, or with a wrong one,
// is refused 403 and audited; nothing is done.
func TestConsoleCSRF(t *testing.T) {
	s := startConsole(t, false)
	b := s.browser(t)
	// The login form itself.
	b.do("GET", "/ui/login", nil)
	if resp, _ := b.do("POST", "/ui/login", url.Values{"name": {"admin"}, "password": {"pw-admin"}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("login without CSRF token: %d, want 403", resp.StatusCode)
	}
	page := b.login("admin")
	token := csrfOf(t, page)
	for _, tt := range []struct{ name, token string }{{"missing", ""}, {"wrong", token[:len(token)-2] + "xx"}, {"another session's", csrfOf(t, s.browser(t).login("bob"))}} {
		for _, path := range []string{"/ui/erase/p1/approve", "/ui/logout"} {
			form := url.Values{"confirm": {"K-1"}}
			if tt.token != "" {
				form.Set("csrf", tt.token)
			}
			if resp, body := b.do("POST", path, form); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "確認トークン") {
				t.Errorf("%s token, %s: %d, want 403\n%s", tt.name, path, resp.StatusCode, body)
			}
		}
	}
	if len(s.backend.approved) != 0 {
		t.Errorf("approved without a CSRF token: %v", s.backend.approved)
	}
	n := 0
	for _, r := range s.records(t) {
		if r.Action == "console.csrf" && r.Result == audit.ResultDenied {
			n++
		}
	}
	if n != 7 {
		t.Errorf("%d console.csrf denials audited, want 7", n)
	}
	// The right token works.
	if resp, body := b.do("POST", "/ui/erase/p1/approve", url.Values{"csrf": {token}, "confirm": {"K-1"}}); resp.StatusCode != http.StatusOK || len(s.backend.approved) != 1 {
		t.Errorf("approve with the token: %d %v\n%s", resp.StatusCode, s.backend.approved, body)
	}
}

// TestConsoleCookies: HttpOnly, SameSite=Strict, Path=/, Secure only with
// TLS; a login gets a new session id; logout ends the session.
func TestConsoleCookies(t *testing.T) {
	for _, secure := range []bool{false, true} {
		s := startConsole(t, secure)
		b := s.browser(t)
		resp, page := b.do("GET", "/ui/login", nil)
		before := cookieOf(t, resp, sessionCookie)
		checkCookie(t, before, secure)
		resp, _ = b.do("POST", "/ui/login", url.Values{"csrf": {csrfOf(t, page)}, "name": {"admin"}, "password": {"pw-admin"}})
		after := cookieOf(t, resp, sessionCookie)
		checkCookie(t, after, secure)
		if after.Value == before.Value || len(after.Value) < 43 {
			t.Errorf("session id not rotated at login, or short: %q → %q", before.Value, after.Value)
		}
		resp, _ = b.do("GET", "/ui/?lang=en", nil)
		checkCookie(t, cookieOf(t, resp, langCookie), secure)
		if secure {
			continue // the jar does not send Secure cookies over http
		}
		// The old id opens nothing.
		old := s.browser(t)
		u, _ := url.Parse(s.url)
		old.c.Jar.SetCookies(u, []*http.Cookie{{Name: sessionCookie, Value: before.Value}})
		if resp, _ := old.do("GET", "/ui/", nil); resp.StatusCode != http.StatusSeeOther {
			t.Errorf("the login form's session id opens the overview: %d", resp.StatusCode)
		}
		_, page = b.do("GET", "/ui/", nil)
		resp, _ = b.do("POST", "/ui/logout", url.Values{"csrf": {csrfOf(t, page)}})
		if resp.StatusCode != http.StatusSeeOther || cookieOf(t, resp, sessionCookie).MaxAge >= 0 {
			t.Errorf("logout: %d, cookie not cleared", resp.StatusCode)
		}
		still := s.browser(t)
		still.c.Jar.SetCookies(u, []*http.Cookie{{Name: sessionCookie, Value: after.Value}})
		if resp, _ := still.do("GET", "/ui/", nil); resp.StatusCode != http.StatusSeeOther {
			t.Errorf("the session opens the overview after logout: %d", resp.StatusCode)
		}
		if !s.has(t, "user:admin", "console.logout", audit.ResultOK) || !s.has(t, "user:admin", "console.login", audit.ResultOK) {
			t.Error("login or logout not audited")
		}
	}
}

func cookieOf(t *testing.T, resp *http.Response, name string) *http.Cookie {
	t.Helper()
	for _, c := range resp.Cookies() {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no cookie %s in %v", name, resp.Header["Set-Cookie"])
	return nil
}

func checkCookie(t *testing.T, c *http.Cookie, secure bool) {
	t.Helper()
	if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.Secure != secure {
		t.Errorf("cookie %s: HttpOnly %v SameSite %v Path %q Secure %v (want Secure %v)", c.Name, c.HttpOnly, c.SameSite, c.Path, c.Secure, secure)
	}
}

// TestConsoleHeaders: every console response carries the security
// headers; pages are not cached.
func TestConsoleHeaders(t *testing.T) {
	s := startConsole(t, false)
	b := s.browser(t)
	b.login("admin")
	for _, p := range []string{"/", "/ui/login", "/ui/", "/ui/erase", "/ui/audit", "/ui/reports", "/ui/reports/drill-1.pdf", "/ui/static/console.css", "/ui/nowhere"} {
		resp, _ := b.do("GET", p, nil)
		want := map[string]string{
			"Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'",
			"X-Content-Type-Options":  "nosniff", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY",
		}
		if p != "/ui/static/console.css" {
			want["Cache-Control"] = "no-store"
		}
		for k, v := range want {
			if got := resp.Header.Get(k); got != v {
				t.Errorf("%s: %s %q, want %q", p, k, got, v)
			}
		}
	}
	if !s.has(t, "user:admin", "console.download", audit.ResultOK) {
		t.Error("the report download is not audited")
	}
}

// TestConsoleTimeouts: a session ends after the idle timeout without a
// request, and after the absolute timeout however busy.
func TestConsoleTimeouts(t *testing.T) {
	s := startConsole(t, false)
	idle := s.browser(t)
	idle.login("admin")
	s.clock.Advance(14 * time.Minute)
	if resp, _ := idle.do("GET", "/ui/runs", nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("14 min idle: %d, want 200", resp.StatusCode)
	}
	s.clock.Advance(15 * time.Minute)
	resp, _ := idle.do("GET", "/ui/runs", nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/ui/login?expired=1" {
		t.Errorf("15 min idle: %d %s, want a redirect to the login", resp.StatusCode, resp.Header.Get("Location"))
	}
	busy := s.browser(t)
	busy.login("admin")
	for range 8*6 - 1 { // a request every 10 min for 7 h 50 min
		s.clock.Advance(10 * time.Minute)
		if resp, _ := busy.do("GET", "/ui/", nil); resp.StatusCode != http.StatusOK {
			t.Fatalf("a busy session ended early: %d", resp.StatusCode)
		}
	}
	s.clock.Advance(10 * time.Minute)
	if resp, _ := busy.do("GET", "/ui/", nil); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("after 8 h: %d, want a redirect to the login", resp.StatusCode)
	}
	if !s.has(t, "console:anonymous", "console.session.expired", audit.ResultOK) {
		t.Error("an expired session is not audited")
	}
}

// TestConsoleRoles: an auditor cannot approve (403, audited, nothing
// approved), an operator cannot read the audit log; an approver can
// approve. Failed logins and lockouts are audited with the name tried.
func TestConsoleRoles(t *testing.T) {
	s := startConsole(t, false)
	aud := s.browser(t)
	page := aud.login("audrey")
	if strings.Contains(page, "/ui/erase/p1/approve") {
		t.Error("the auditor is offered the approve form")
	}
	resp, body := aud.do("POST", "/ui/erase/p1/approve", url.Values{"csrf": {csrfOf(t, page)}, "confirm": {"K-1"}})
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "許可されていません") {
		t.Errorf("auditor approves: %d\n%s", resp.StatusCode, body)
	}
	if len(s.backend.approved) != 0 {
		t.Errorf("the auditor's approval went through: %v", s.backend.approved)
	}
	if !s.has(t, "user:audrey", "console.access", audit.ResultDenied) {
		t.Error("the auditor's refused approval is not audited")
	}
	if resp, _ := aud.do("GET", "/ui/audit", nil); resp.StatusCode != http.StatusOK {
		t.Errorf("auditor reads the audit log: %d", resp.StatusCode)
	}
	op := s.browser(t)
	op.login("oscar")
	if resp, _ := op.do("GET", "/ui/audit", nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("operator reads the audit log: %d, want 403", resp.StatusCode)
	}
	bob := s.browser(t)
	bob.login("bob")
	_, page = bob.do("GET", "/ui/erase", nil)
	if !strings.Contains(page, `action="/ui/erase/p1/approve"`) {
		t.Errorf("the approver is not offered the approve form:\n%s", page)
	}
	resp, body = bob.do("POST", "/ui/erase/p1/approve", url.Values{"csrf": {csrfOf(t, page)}, "confirm": {"K-2"}})
	if resp.StatusCode != http.StatusConflict || !strings.Contains(body, "contract id typed out") {
		t.Errorf("a mistyped contract id: %d\n%s", resp.StatusCode, body)
	}
	resp, _ = bob.do("POST", "/ui/erase/p1/approve", url.Values{"csrf": {csrfOf(t, page)}, "confirm": {"K-1"}})
	if resp.StatusCode != http.StatusOK || !slices.Equal(s.backend.approved, []string{"p1 by bob"}) {
		t.Errorf("approve: %d %v", resp.StatusCode, s.backend.approved)
	}
	if !s.has(t, "user:bob", "console.action", audit.ResultOK) || !s.has(t, "user:bob", "console.action", audit.ResultDenied) || !s.has(t, "user:bob", "console.view", audit.ResultOK) {
		t.Error("the approver's actions and views are not all audited")
	}
	// Failed logins.
	for _, name := range []string{"bob", "locked"} {
		b := s.browser(t)
		_, page := b.do("GET", "/ui/login", nil)
		resp, body := b.do("POST", "/ui/login", url.Values{"csrf": {csrfOf(t, page)}, "name": {name}, "password": {"wrong"}})
		want := map[string]string{"bob": "正しくありません", "locked": "ロックされています"}[name]
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, want) {
			t.Errorf("failed login of %s: %d\n%s", name, resp.StatusCode, body)
		}
	}
	var reasons []string
	for _, r := range s.records(t) {
		if r.Action == "console.login" && r.Result == audit.ResultDenied {
			reasons = append(reasons, r.Details["name"]+": "+r.Details["reason"])
			if strings.Contains(fmt.Sprint(r.Details), "wrong\"") || r.Details["password"] != "" {
				t.Errorf("a password in the audit log: %v", r.Details)
			}
		}
	}
	if !slices.Equal(reasons, []string{"bob: wrong name or password", "locked: locked out"}) {
		t.Errorf("failed logins audited as %q", reasons)
	}
}

// TestConsoleAccountChanges: each request looks the account up again: a
// changed role applies at once, and a disabled, locked or removed account
// ends its session (audited).
func TestConsoleAccountChanges(t *testing.T) {
	s := startConsole(t, false)
	bob := s.browser(t)
	page := bob.login("bob")
	s.accounts.set("bob", Operator{Name: "bob", Role: "auditor"})
	resp, _ := bob.do("POST", "/ui/erase/p1/approve", url.Values{"csrf": {csrfOf(t, page)}, "confirm": {"K-1"}})
	if resp.StatusCode != http.StatusForbidden || len(s.backend.approved) != 0 {
		t.Errorf("approve after bob became an auditor: %d %v", resp.StatusCode, s.backend.approved)
	}
	if _, page := bob.do("GET", "/ui/", nil); !strings.Contains(page, "bob (監査者)") {
		t.Errorf("the page does not show bob's new role:\n%s", page)
	}
	s.accounts.set("bob", Operator{})
	resp, _ = bob.do("GET", "/ui/", nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/ui/login?ended=1" {
		t.Errorf("a removed account's session: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	s.accounts.set("bob", Operator{Name: "bob", Role: "approver"})
	if resp, _ := bob.do("GET", "/ui/", nil); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("the ended session opens the overview again: %d", resp.StatusCode)
	}
	if !s.has(t, "user:bob", "console.session.ended", audit.ResultDenied) {
		t.Error("the ended session is not audited")
	}
}
