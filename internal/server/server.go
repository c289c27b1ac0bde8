package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"steward/internal/audit"
)

// Reader is what the server reads. Every answer is derived from the
// catalog (the record), never from memory of what the daemon did.
type Reader interface {
	// Status is the document of `steward status --json`.
	Status(ctx context.Context) (any, error)
	// Runs are backup runs, newest first: job's ("" for every job), at
	// most limit per job.
	Runs(ctx context.Context, job string, limit int) ([]Run, error)
	// Snapshots are the snapshots Steward recorded, newest first: job's
	// ("" for every job).
	Snapshots(ctx context.Context, job string) ([]Snapshot, error)
	// Drills are restore drills, newest first, at most limit.
	Drills(ctx context.Context, limit int) ([]Drill, error)
	// Facts are what /metrics reports.
	Facts(ctx context.Context) (*Facts, error)
	// Ready is nil when the catalog answers and can record (a run, an
	// audit record); else why not.
	Ready(ctx context.Context) error
}

// TokenChecker says whether a presented bearer token opens the API
// (Token is one).
type TokenChecker interface {
	Check(presented string) bool
}

// Run is one backup run of one source into one repository.
type Run struct {
	ID         string `json:"id"`
	Job        string `json:"job"`
	Source     string `json:"source"`
	Repository string `json:"repository"`
	SnapshotID string `json:"snapshot_id,omitempty"`
	Started    string `json:"started"`
	Finished   string `json:"finished,omitempty"`
	// Result is "" while running, then ok, failed, refused or interrupted.
	Result     string `json:"result"`
	BytesAdded int64  `json:"bytes_added"`
	Error      string `json:"error,omitempty"`
}

// Snapshot is a snapshot Steward made.
type Snapshot struct {
	Repository string `json:"repository"`
	SnapshotID string `json:"snapshot_id"`
	Job        string `json:"job"`
	Source     string `json:"source"`
	Time       string `json:"time"`
}

// Drill is one restore drill.
type Drill struct {
	ID         string  `json:"id"`
	Job        string  `json:"job"`
	Source     string  `json:"source"`
	Repository string  `json:"repository"`
	SnapshotID string  `json:"snapshot_id"`
	Started    string  `json:"started"`
	Finished   string  `json:"finished,omitempty"`
	Result     string  `json:"result"`
	RTOSeconds float64 `json:"rto_seconds"`
	RPOSeconds float64 `json:"rpo_seconds"`
	RTOMet     bool    `json:"rto_met"`
	RPOMet     bool    `json:"rpo_met"`
}

// Deps are what New builds the handler from.
type Deps struct {
	Reader Reader
	// Audit records every API call (req 14).
	Audit audit.Appender
	// Token opens the API.
	Token TokenChecker
	// Registry receives the Steward collector; /metrics serves it. nil: a
	// new registry with the Go runtime and process collectors.
	Registry *prometheus.Registry
	// ReportsDir is the state dir's reports/ folder.
	ReportsDir string
	Log        *slog.Logger
	// Console turns on the operator web console under /ui/ (nil: off).
	Console *ConsoleDeps
}

// apiActor is who API calls are recorded as, until operator accounts
// exist: whoever holds the token.
const apiActor = "api:token"

// New returns the daemon's HTTP handler. It fails if d lacks a part or
// the collector cannot be registered (a second New on one registry).
func New(d Deps) (http.Handler, error) {
	if d.Reader == nil || d.Audit == nil || d.Token == nil {
		return nil, errors.New("server: Reader, Audit and Token are required")
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Registry == nil {
		d.Registry = prometheus.NewRegistry()
		d.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	if err := d.Registry.Register(newCollector(d.Reader)); err != nil {
		return nil, fmt.Errorf("server: register metrics: %w", err)
	}
	s := &handler{d: d}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(d.Registry, promhttp.HandlerOpts{ErrorLog: slogPrinter{d.Log}}))
	api := http.NewServeMux()
	api.HandleFunc("GET /api/v1/status", s.status)
	api.HandleFunc("GET /api/v1/runs", s.runs)
	api.HandleFunc("GET /api/v1/snapshots", s.snapshots)
	api.HandleFunc("GET /api/v1/drills", s.drills)
	api.HandleFunc("GET /api/v1/reports", s.reportList)
	api.HandleFunc("GET /api/v1/reports/{name}", s.report)
	mux.Handle("/api/", s.guard(api))
	if d.Console != nil {
		c, err := newConsole(*d.Console, d.Reader, d.Audit, d.ReportsDir, d.Log.With("component", "console"))
		if err != nil {
			return nil, err
		}
		c.routes(mux)
	}
	return mux, nil
}

type handler struct{ d Deps }

// guard lets a request with the token through, and records every request
// (granted or refused) in the audit log, without the token. A granted
// request whose record cannot be written is refused: the access history
// must hold every view.
func (s *handler) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		details := map[string]string{"method": r.Method, "path": r.URL.Path, "remote": r.RemoteAddr}
		if q := r.URL.RawQuery; q != "" {
			details["query"] = q
		}
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || !s.d.Token.Check(strings.TrimSpace(tok)) {
			details["reason"] = "missing bearer token"
			if ok {
				details["reason"] = "wrong bearer token"
			}
			if _, err := s.d.Audit.Append(context.WithoutCancel(r.Context()), audit.Entry{Actor: "api:anonymous", Action: "api.access", Target: r.URL.Path, Result: audit.ResultDenied, Details: details}); err != nil {
				s.d.Log.Error("audit append failed", "action", "api.access", "err", err)
			}
			w.Header().Set("WWW-Authenticate", `Bearer realm="steward"`)
			writeError(w, http.StatusUnauthorized, "this API needs `Authorization: Bearer <token>`: the token is in the state dir's keys/api.token (`steward token show`)")
			return
		}
		if _, err := s.d.Audit.Append(context.WithoutCancel(r.Context()), audit.Entry{Actor: apiActor, Action: "api.access", Target: r.URL.Path, Result: audit.ResultOK, Details: details}); err != nil {
			s.d.Log.Error("audit append failed", "action", "api.access", "err", err)
			writeError(w, http.StatusServiceUnavailable, "the audit log cannot record this access, so it is refused: see `steward status`")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *handler) readyz(w http.ResponseWriter, r *http.Request) {
	if err := s.d.Reader.Ready(r.Context()); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready", "error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

func (s *handler) status(w http.ResponseWriter, r *http.Request) {
	v, err := s.d.Reader.Status(r.Context())
	s.answer(w, v, err)
}

func (s *handler) runs(w http.ResponseWriter, r *http.Request) {
	limit, ok := s.limit(w, r, 100)
	if !ok {
		return
	}
	v, err := s.d.Reader.Runs(r.Context(), r.URL.Query().Get("job"), limit)
	s.answer(w, nonNil(v), err)
}

func (s *handler) snapshots(w http.ResponseWriter, r *http.Request) {
	v, err := s.d.Reader.Snapshots(r.Context(), r.URL.Query().Get("job"))
	s.answer(w, nonNil(v), err)
}

func (s *handler) drills(w http.ResponseWriter, r *http.Request) {
	limit, ok := s.limit(w, r, 50)
	if !ok {
		return
	}
	v, err := s.d.Reader.Drills(r.Context(), limit)
	s.answer(w, nonNil(v), err)
}

// reportList names the files in reports/.
func (s *handler) reportList(w http.ResponseWriter, _ *http.Request) {
	entries, err := os.ReadDir(s.d.ReportsDir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		s.answer(w, nil, err)
		return
	}
	names := []string{}
	for _, e := range entries {
		if e.Type().IsRegular() && strings.HasSuffix(e.Name(), ".pdf") {
			names = append(names, e.Name())
		}
	}
	writeJSON(w, http.StatusOK, names)
}

// report sends one signed report. The name must be a file name of
// reports/ (no path, no ".."), and it is opened through an os.Root of
// that folder, so that not even a symbolic link leads out of it.
func (s *handler) report(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	f, st, code, err := openReport(s.d.ReportsDir, name)
	if err != nil {
		if code == http.StatusInternalServerError {
			s.answer(w, nil, err)
			return
		}
		writeError(w, code, err.Error())
		return
	}
	defer f.Close()
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	w.Header().Set("Content-Type", "application/pdf")
	http.ServeContent(w, r, name, st.ModTime(), f)
}

// openReport opens one signed report of dir. The name must be a file
// name of dir (no path, no ".."), and it is opened through an os.Root of
// that folder, so that not even a symbolic link leads out of it. On error,
// code is the HTTP status to answer with.
func openReport(dir, name string) (f *os.File, st fs.FileInfo, code int, err error) {
	if err := checkReportName(name); err != nil {
		return nil, nil, http.StatusBadRequest, fmt.Errorf("%q: %w: give a name from the list of reports", name, err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, nil, http.StatusInternalServerError, err
	}
	defer root.Close()
	f, err = root.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, http.StatusNotFound, fmt.Errorf("no report %q: see the list of reports", name)
	}
	if err != nil {
		return nil, nil, http.StatusBadRequest, fmt.Errorf("%q: %w", name, ErrBadReportName)
	}
	st, err = f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		f.Close()
		return nil, nil, http.StatusBadRequest, fmt.Errorf("%q: %w", name, ErrBadReportName)
	}
	return f, st, 0, nil
}

func checkReportName(name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, `/\`+"\x00") ||
		filepath.Base(name) != name || !strings.HasSuffix(name, ".pdf") {
		return ErrBadReportName
	}
	return nil
}

func (s *handler) limit(w http.ResponseWriter, r *http.Request, def int) (int, bool) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return def, true
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 10000 {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("limit %q: give a number from 1 to 10000", v))
		return 0, false
	}
	return n, true
}

func (s *handler) answer(w http.ResponseWriter, v any, err error) {
	if err != nil {
		s.d.Log.Error("api read failed", "err", err)
		writeError(w, http.StatusInternalServerError, "the catalog could not be read: see the daemon's log")
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func nonNil[T any](v []T) []T {
	if v == nil {
		return []T{}
	}
	return v
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

// slogPrinter lets promhttp log through slog.
type slogPrinter struct{ log *slog.Logger }

func (p slogPrinter) Println(v ...any) { p.log.Error("metrics", "err", fmt.Sprint(v...)) }
