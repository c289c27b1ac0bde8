package server

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"steward/internal/audit"
	"steward/internal/clock"
)

//go:embed console/templates/*.html console/static/*.css console/i18n/*.json
var consoleFS embed.FS

// Cookie names of the console.
const (
	sessionCookie = "steward_session"
	langCookie    = "steward_lang"
)

// consoleVia is what the console tells the Authenticator a login came
// through.
const consoleVia = "console"

// pages are the console's pages (each a template besides the layout).
var pages = []string{"login", "overview", "runs", "drills", "checks", "reports", "erase", "audit", "message"}

// console is the operator web console under /ui/.
type console struct {
	d        ConsoleDeps
	reader   Reader
	audit    audit.Appender
	reports  string
	log      *slog.Logger
	sessions *sessionStore
	// tmpl holds each page's template per language.
	tmpl map[string]map[string]*template.Template
	cats map[string]catalogue
}

func newConsole(d ConsoleDeps, reader Reader, a audit.Appender, reports string, log *slog.Logger) (*console, error) {
	if d.Backend == nil || d.Auth == nil || d.Roles == nil {
		return nil, errors.New("server: the console needs Backend, Auth and Roles")
	}
	if d.Clock == nil {
		d.Clock = clock.System
	}
	if d.IdleTimeout <= 0 || d.AbsoluteTimeout <= 0 {
		return nil, errors.New("server: the console needs positive session timeouts")
	}
	cats, err := loadCatalogues()
	if err != nil {
		return nil, err
	}
	c := &console{d: d, reader: reader, audit: a, reports: reports, log: log, cats: cats,
		sessions: newSessionStore(d.Clock, d.IdleTimeout, d.AbsoluteTimeout), tmpl: map[string]map[string]*template.Template{}}
	for lang, cat := range cats {
		c.tmpl[lang] = map[string]*template.Template{}
		for _, p := range pages {
			t, err := template.New("layout.html").Funcs(template.FuncMap{"t": cat.lookup}).
				ParseFS(consoleFS, "console/templates/layout.html", "console/templates/"+p+".html")
			if err != nil {
				return nil, fmt.Errorf("server: console template %s: %w", p, err)
			}
			c.tmpl[lang][p] = t
		}
	}
	return c, nil
}

// routes are the console's, all under /ui/.
func (c *console) routes(mux *http.ServeMux) {
	static, _ := fs.Sub(consoleFS, "console/static")
	mux.Handle("GET /ui/static/", c.headers(http.StripPrefix("/ui/static/", http.FileServerFS(static)), false))
	page := func(pattern string, h http.HandlerFunc) { mux.Handle(pattern, c.headers(h, true)) }
	page("GET /{$}", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/ui/", http.StatusSeeOther) })
	page("GET /ui/login", c.loginForm)
	page("POST /ui/login", c.login)
	page("POST /ui/logout", c.withSession(ActionView, "logout", c.logout))
	page("GET /ui/{$}", c.withSession(ActionView, "overview", c.overview))
	page("GET /ui/runs", c.withSession(ActionView, "runs", c.runs))
	page("GET /ui/drills", c.withSession(ActionView, "drills", c.drills))
	page("GET /ui/checks", c.withSession(ActionView, "checks", c.checks))
	page("GET /ui/reports", c.withSession(ActionView, "reports", c.reportList))
	page("GET /ui/reports/{name}", c.withSession(ActionView, "report", c.report))
	page("GET /ui/erase", c.withSession(ActionView, "erase", c.erasePlans))
	page("POST /ui/erase/{id}/approve", c.withSession(ActionApproveErase, "erase.approve", c.approve))
	page("POST /ui/erase/{id}/cancel", c.withSession(ActionCancelErase, "erase.cancel", c.cancel))
	page("GET /ui/audit", c.withSession(ActionViewAudit, "audit", c.auditLog))
	page("/ui/", func(w http.ResponseWriter, r *http.Request) {
		c.message(w, r, nil, http.StatusNotFound, "msg.not_found")
	})
}

// headers sets the security headers on every console response; pages
// are not cached.
func (c *console) headers(next http.Handler, noStore bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'; form-action 'self'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		if noStore {
			h.Set("Cache-Control", "no-store")
		}
		next.ServeHTTP(w, r)
	})
}

// request is one console request's context: who, in which language.
type request struct {
	id   string // the session id (the cookie's value)
	sess *session
	// op is the logged-in operator as the account is now (withSession
	// looks it up on each request: its current role).
	op   Operator
	lang string
	self string // the page the language links lead back to
}

// lang picks the language: ?lang= (kept in a cookie), else the cookie,
// else Japanese.
func (c *console) lang(w http.ResponseWriter, r *http.Request) string {
	if l := r.URL.Query().Get("lang"); c.cats[l] != nil {
		http.SetCookie(w, c.cookie(langCookie, l, 365*24*time.Hour))
		return l
	}
	if ck, err := r.Cookie(langCookie); err == nil && c.cats[ck.Value] != nil {
		return ck.Value
	}
	return defaultLang
}

// cookie is one of the console's: HttpOnly, SameSite=Strict, Path=/,
// Secure with TLS. maxAge 0: a session cookie; <0: delete it.
func (c *console) cookie(name, value string, maxAge time.Duration) *http.Cookie {
	ck := &http.Cookie{Name: name, Value: value, Path: "/", HttpOnly: true, Secure: c.d.Secure, SameSite: http.SameSiteStrictMode}
	switch {
	case maxAge < 0:
		ck.MaxAge = -1
	case maxAge > 0:
		ck.MaxAge = int(maxAge.Seconds())
	}
	return ck
}

// session reads the request's session (nil: none, or timed out).
func (c *console) session(r *http.Request) (id string, sess *session, expired bool) {
	ck, err := r.Cookie(sessionCookie)
	if err != nil {
		return "", nil, false
	}
	sess, expired = c.sessions.get(ck.Value)
	return ck.Value, sess, expired
}

// withSession lets through a request of a logged-in operator whose role
// allows action, with the right CSRF token when it is a POST. Everything
// else is refused and the refusal audited; a page view that cannot be
// recorded is refused (the access history must hold every view).
func (c *console) withSession(action Action, page string, next func(http.ResponseWriter, *http.Request, *request)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		req := &request{lang: c.lang(w, r)}
		if r.Method == http.MethodGet {
			req.self = r.URL.Path
		} else if strings.HasPrefix(page, "erase.") {
			req.self = "/ui/erase"
		}
		var expired bool
		req.id, req.sess, expired = c.session(r)
		if req.sess == nil || req.sess.op.Name == "" {
			if expired {
				c.record(r, "", "console.session.expired", page, audit.ResultOK, nil)
			}
			if r.Method == http.MethodPost {
				c.record(r, "", "console.access", page, audit.ResultDenied, map[string]string{"reason": "not logged in"})
				c.message(w, r, req, http.StatusForbidden, "msg.login_first")
				return
			}
			target := "/ui/login"
			if expired {
				target += "?expired=1"
			}
			http.Redirect(w, r, target, http.StatusSeeOther)
			return
		}
		op, err := c.d.Auth.Lookup(r.Context(), req.sess.op.Name)
		if err != nil {
			c.accountGone(w, r, req, page, err)
			return
		}
		req.op = op
		if r.Method == http.MethodPost && !req.sess.checkCSRF(r.PostFormValue("csrf")) {
			c.record(r, op.Name, "console.csrf", page, audit.ResultDenied, map[string]string{"reason": "missing or wrong CSRF token"})
			c.message(w, r, req, http.StatusForbidden, "msg.csrf")
			return
		}
		if !c.d.Roles.Can(op, action) {
			c.record(r, op.Name, "console.access", page, audit.ResultDenied, map[string]string{"reason": "role " + op.Role + " may not " + string(action)})
			c.message(w, r, req, http.StatusForbidden, "msg.forbidden")
			return
		}
		if r.Method == http.MethodGet && page != "report" {
			details := map[string]string{"page": page}
			if q := r.URL.RawQuery; q != "" {
				details["query"] = q
			}
			if err := c.record(r, op.Name, "console.view", page, audit.ResultOK, details); err != nil {
				c.message(w, r, req, http.StatusServiceUnavailable, "msg.audit_down")
				return
			}
		}
		next(w, r, req)
	}
}

// accountGone ends a session whose account was disabled, locked or
// removed since the login (err from Authenticator.Lookup), and sends the
// browser to the login page.
func (c *console) accountGone(w http.ResponseWriter, r *http.Request, req *request, page string, err error) {
	if !errors.Is(err, ErrBadLogin) && !errors.Is(err, ErrDisabled) && !errors.Is(err, ErrLockedOut) {
		c.failed(w, r, req, err)
		return
	}
	c.sessions.delete(req.id)
	c.record(r, req.sess.op.Name, "console.session.ended", page, audit.ResultDenied, map[string]string{"reason": err.Error()})
	req.sess = nil
	http.SetCookie(w, c.cookie(sessionCookie, "", -1))
	if r.Method == http.MethodPost {
		c.message(w, r, req, http.StatusForbidden, "login.ended")
		return
	}
	http.Redirect(w, r, "/ui/login?ended=1", http.StatusSeeOther)
}

// record appends one audit record, actor the operator name ("user:NAME",
// as internal/auth names operators; "console:anonymous" before a login);
// its error is logged and returned.
func (c *console) record(r *http.Request, name, action, target, result string, details map[string]string) error {
	actor := "console:anonymous"
	if name != "" {
		actor = "user:" + name
	}
	if details == nil {
		details = map[string]string{}
	}
	details["remote"] = r.RemoteAddr
	_, err := c.audit.Append(context.WithoutCancel(r.Context()), audit.Entry{Actor: actor, Action: action, Target: target, Result: result, Details: details})
	if err != nil {
		c.log.Error("audit append failed", "action", action, "err", err)
	}
	return err
}

// view is what a page template gets.
type view struct {
	Lang, Title, Zone string
	Self              string
	Op                Operator
	CSRF              string
	CanAudit          bool
	CanApprove        bool
	CanCancel         bool
	Error, Notice     string
	Data              any
}

func (c *console) render(w http.ResponseWriter, req *request, code int, page, title string, v view) {
	v.Lang, v.Title, v.Self = req.lang, title, req.self
	if v.Self == "" {
		v.Self = "/ui/"
	}
	v.Zone = c.d.Clock.Now().Location().String()
	if req.sess != nil {
		v.Op, v.CSRF = req.op, req.sess.csrf
		if v.Op.Name != "" {
			v.CanAudit = c.d.Roles.Can(v.Op, ActionViewAudit)
			v.CanApprove = c.d.Roles.Can(v.Op, ActionApproveErase)
			v.CanCancel = c.d.Roles.Can(v.Op, ActionCancelErase)
		}
	}
	var b strings.Builder
	if err := c.tmpl[req.lang][page].ExecuteTemplate(&b, "layout", v); err != nil {
		c.log.Error("console page", "page", page, "err", err)
		http.Error(w, "the page could not be rendered: see the daemon's log", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(b.String()))
}

// message renders a page that says one thing (msg key).
func (c *console) message(w http.ResponseWriter, r *http.Request, req *request, code int, key string) {
	if req == nil {
		req = &request{lang: c.lang(w, r)}
		req.id, req.sess, _ = c.session(r)
	}
	c.render(w, req, code, "message", "msg.title", view{Error: c.cats[req.lang].text(key)})
}

// failed renders a page for an error reading the catalog.
func (c *console) failed(w http.ResponseWriter, r *http.Request, req *request, err error) {
	c.log.Error("console read failed", "path", r.URL.Path, "err", err)
	c.message(w, r, req, http.StatusInternalServerError, "msg.read_failed")
}

func (c *console) loginForm(w http.ResponseWriter, r *http.Request) {
	req := &request{lang: c.lang(w, r), self: "/ui/login"}
	req.id, req.sess, _ = c.session(r)
	if req.sess != nil && req.sess.op.Name != "" {
		http.Redirect(w, r, "/ui/", http.StatusSeeOther)
		return
	}
	if req.sess == nil {
		req.id, req.sess = c.sessions.create(Operator{})
		http.SetCookie(w, c.cookie(sessionCookie, req.id, 0))
	}
	v := view{}
	switch q := r.URL.Query(); {
	case q.Get("expired") != "":
		v.Notice = c.cats[req.lang].text("login.expired")
	case q.Get("ended") != "":
		v.Notice = c.cats[req.lang].text("login.ended")
	}
	c.render(w, req, http.StatusOK, "login", "login.title", v)
}

// login checks the form's CSRF token (of the login form's session) and
// the password; a good login gets a new session id.
func (c *console) login(w http.ResponseWriter, r *http.Request) {
	req := &request{lang: c.lang(w, r), self: "/ui/login"}
	req.id, req.sess, _ = c.session(r)
	name := strings.TrimSpace(r.PostFormValue("name"))
	if req.sess == nil || !req.sess.checkCSRF(r.PostFormValue("csrf")) {
		c.record(r, "", "console.csrf", "login", audit.ResultDenied, map[string]string{"reason": "missing or wrong CSRF token", "name": name})
		c.message(w, r, req, http.StatusForbidden, "msg.csrf")
		return
	}
	op, err := c.d.Auth.Login(r.Context(), name, r.PostFormValue("password"), consoleVia)
	if err != nil {
		key, reason := "login.failed", "wrong name or password"
		code := http.StatusUnauthorized
		switch {
		case errors.Is(err, ErrLockedOut):
			key, reason = "login.locked", "locked out"
		case errors.Is(err, ErrDisabled):
			key, reason = "login.disabled", "disabled"
		case !errors.Is(err, ErrBadLogin):
			c.log.Error("console login", "err", err)
			key, reason, code = "msg.read_failed", "accounts unreadable", http.StatusInternalServerError
		}
		c.record(r, "", "console.login", "user:"+name, audit.ResultDenied, map[string]string{"name": name, "reason": reason})
		c.render(w, req, code, "login", "login.title", view{Error: c.cats[req.lang].text(key)})
		return
	}
	if err := c.record(r, op.Name, "console.login", "user:"+op.Name, audit.ResultOK, map[string]string{"role": op.Role}); err != nil {
		c.message(w, r, req, http.StatusServiceUnavailable, "msg.audit_down")
		return
	}
	c.sessions.delete(req.id) // the login form's: a new id from now on
	id, _ := c.sessions.create(op)
	http.SetCookie(w, c.cookie(sessionCookie, id, 0))
	http.Redirect(w, r, "/ui/", http.StatusSeeOther)
}

func (c *console) logout(w http.ResponseWriter, r *http.Request, req *request) {
	c.sessions.delete(req.id)
	c.record(r, req.op.Name, "console.logout", "user:"+req.op.Name, audit.ResultOK, nil)
	http.SetCookie(w, c.cookie(sessionCookie, "", -1))
	http.Redirect(w, r, "/ui/login", http.StatusSeeOther)
}

func (c *console) overview(w http.ResponseWriter, r *http.Request, req *request) {
	o, err := c.d.Backend.Overview(r.Context())
	if err != nil {
		c.failed(w, r, req, err)
		return
	}
	c.render(w, req, http.StatusOK, "overview", "overview.title", view{Data: o})
}

// historyLimit is how many runs, drills and checks a history page shows.
const historyLimit = 200

func (c *console) runs(w http.ResponseWriter, r *http.Request, req *request) {
	v, err := c.reader.Runs(r.Context(), "", historyLimit)
	if err != nil {
		c.failed(w, r, req, err)
		return
	}
	c.render(w, req, http.StatusOK, "runs", "runs.title", view{Data: v})
}

func (c *console) drills(w http.ResponseWriter, r *http.Request, req *request) {
	v, err := c.reader.Drills(r.Context(), historyLimit)
	if err != nil {
		c.failed(w, r, req, err)
		return
	}
	c.render(w, req, http.StatusOK, "drills", "drills.title", view{Data: v})
}

func (c *console) checks(w http.ResponseWriter, r *http.Request, req *request) {
	v, err := c.d.Backend.Checks(r.Context(), historyLimit)
	if err != nil {
		c.failed(w, r, req, err)
		return
	}
	c.render(w, req, http.StatusOK, "checks", "checks.title", view{Data: v})
}

// reportFile is one file of reports/.
type reportFile struct {
	Name, Time string
	Size       int64
}

func (c *console) reportList(w http.ResponseWriter, r *http.Request, req *request) {
	entries, err := os.ReadDir(c.reports)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		c.failed(w, r, req, err)
		return
	}
	var files []reportFile
	for _, e := range entries {
		if !e.Type().IsRegular() || !strings.HasSuffix(e.Name(), ".pdf") {
			continue
		}
		if st, err := e.Info(); err == nil {
			files = append(files, reportFile{Name: e.Name(), Time: st.ModTime().In(c.d.Clock.Now().Location()).Format(time.RFC3339), Size: st.Size()})
		}
	}
	slices.SortFunc(files, func(a, b reportFile) int { return strings.Compare(b.Time, a.Time) })
	c.render(w, req, http.StatusOK, "reports", "reports.title", view{Data: files})
}

// report sends one report, as the API does; the download is audited.
func (c *console) report(w http.ResponseWriter, r *http.Request, req *request) {
	name := r.PathValue("name")
	f, st, code, err := openReport(c.reports, name)
	if err != nil {
		c.record(r, req.op.Name, "console.download", "report:"+name, audit.ResultFailed, map[string]string{"error": err.Error()})
		c.render(w, req, code, "message", "msg.title", view{Error: err.Error()})
		return
	}
	defer f.Close()
	if err := c.record(r, req.op.Name, "console.download", "report:"+name, audit.ResultOK, map[string]string{"bytes": strconv.FormatInt(st.Size(), 10)}); err != nil {
		c.message(w, r, req, http.StatusServiceUnavailable, "msg.audit_down")
		return
	}
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	w.Header().Set("Content-Type", "application/pdf")
	http.ServeContent(w, r, name, st.ModTime(), f)
}

func (c *console) erasePlans(w http.ResponseWriter, r *http.Request, req *request) {
	c.renderErase(w, r, req, http.StatusOK, view{})
}

func (c *console) renderErase(w http.ResponseWriter, r *http.Request, req *request, code int, v view) {
	plans, err := c.d.Backend.ErasePlans(r.Context())
	if err != nil {
		c.failed(w, r, req, err)
		return
	}
	v.Data = plans
	c.render(w, req, code, "erase", "erase.title", v)
}

// approve approves a plan through the backend (erase's own checks:
// approvers list, planner ≠ approver, typed contract id, hand-over).
func (c *console) approve(w http.ResponseWriter, r *http.Request, req *request) {
	id, op := r.PathValue("id"), req.op
	err := c.d.Backend.ApproveErase(r.Context(), id, op.Name, strings.TrimSpace(r.PostFormValue("confirm")), r.PostFormValue("waiver"))
	c.actionDone(w, r, req, "erase.approve", id, err, "erase.approved")
}

// cancel cancels a plan; the console asks for the contract id typed out
// here too.
func (c *console) cancel(w http.ResponseWriter, r *http.Request, req *request) {
	id, op := r.PathValue("id"), req.op
	plans, err := c.d.Backend.ErasePlans(r.Context())
	if err != nil {
		c.failed(w, r, req, err)
		return
	}
	i := slices.IndexFunc(plans, func(p ErasePlan) bool { return p.ID == id })
	switch confirm := strings.TrimSpace(r.PostFormValue("confirm")); {
	case i < 0:
		err = fmt.Errorf("no erase plan %q", id)
	case confirm != plans[i].Contract:
		err = fmt.Errorf("the contract id typed (%q) is not plan %s's contract: type it out to cancel", confirm, id)
	default:
		err = c.d.Backend.CancelErase(r.Context(), id, op.Name, r.PostFormValue("reason"))
	}
	c.actionDone(w, r, req, "erase.cancel", id, err, "erase.cancelled")
}

// actionDone audits a console action and shows the erase page with its
// outcome.
func (c *console) actionDone(w http.ResponseWriter, r *http.Request, req *request, action, id string, err error, okKey string) {
	if err != nil {
		c.record(r, req.op.Name, "console.action", "plan:"+id, audit.ResultDenied, map[string]string{"action": action, "reason": err.Error()})
		c.renderErase(w, r, req, http.StatusConflict, view{Error: c.cats[req.lang].text("erase.refused") + " " + err.Error()})
		return
	}
	c.record(r, req.op.Name, "console.action", "plan:"+id, audit.ResultOK, map[string]string{"action": action})
	c.renderErase(w, r, req, http.StatusOK, view{Notice: c.cats[req.lang].text(okKey) + " " + id})
}

// auditPage is how many records one audit page shows.
const auditPage = 100

// auditView is the audit page's data.
type auditView struct {
	Records []audit.Record
	// Older is the "before" of the next page (0: none).
	Older int64
}

func (c *console) auditLog(w http.ResponseWriter, r *http.Request, req *request) {
	var before int64
	if v := r.URL.Query().Get("before"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			c.render(w, req, http.StatusBadRequest, "message", "msg.title", view{Error: fmt.Sprintf("before %q: give a record number (1 or more)", v)})
			return
		}
		before = n
	}
	recs, err := c.d.Backend.Audit(r.Context(), before, auditPage)
	if err != nil {
		c.failed(w, r, req, err)
		return
	}
	v := auditView{Records: recs}
	if n := len(recs); n == auditPage && recs[n-1].Seq > 1 {
		v.Older = recs[n-1].Seq
	}
	c.render(w, req, http.StatusOK, "audit", "audit.title", view{Data: v})
}
