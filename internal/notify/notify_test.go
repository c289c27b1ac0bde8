package notify

import (
	"context"
	"crypto/hmac"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"steward/internal/audit"
	"steward/internal/catalog"
	"steward/internal/clock"
	"steward/internal/config"
	"steward/internal/testenv"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var tokyo, _ = time.LoadLocation("Asia/Tokyo")

// newAudit is a real audit log over a real catalog.
func newAudit(t *testing.T) (*audit.Log, catalog.Store) {
	t.Helper()
	dir := t.TempDir()
	store, err := catalog.Create(context.Background(), filepath.Join(dir, "catalog.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return audit.New(store, filepath.Join(dir, "audit.jsonl"), clock.New(tokyo, nil)), store
}

func records(t *testing.T, store catalog.Store) []audit.Record {
	t.Helper()
	var out []audit.Record
	store.ScanAudit(context.Background(), func(r catalog.AuditRecord) error {
		out = append(out, r)
		return nil
	})
	return out
}

func secretFile(t *testing.T, v string) config.SecretRef {
	t.Helper()
	p := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(p, []byte(v+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return config.SecretRef("file:" + p)
}

// TestWebhookFailingBackup: a failing backup's alert reaches a webhook on
// loopback that answers 500 first, on the second try, with a signature a
// receiver checks with the shared secret; the delivery is one audit
// record that names no path of the URL (it may hold a token).
func TestWebhookFailingBackup(t *testing.T) {
	const secret = "hook-secret-for-the-test"
	var mu sync.Mutex
	var bodies [][]byte
	var sigs []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		bodies, sigs = append(bodies, b), append(sigs, r.Header.Get(SignatureHeader))
		if len(bodies) == 1 {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	log, store := newAudit(t)
	n, err := New(Deps{Config: config.Notify{Webhook: &config.Webhook{URL: srv.URL + "/hooks/T0KEN-in-path", Secret: secretFile(t, secret)}},
		Contract: "K-2024-017", Audit: log, Clock: clock.New(tokyo, nil)})
	if err != nil {
		t.Fatal(err)
	}
	when := time.Date(2026, 12, 1, 2, 0, 5, 0, tokyo)
	if err := n.Send(context.Background(), Alert{Kind: KindBackupFailed, Severity: SeverityCritical, Subject: "backup of job nightly failed",
		Detail: "source docs: restic exited 1", Job: "nightly", Time: when}); err != nil {
		t.Fatal(err)
	}
	if len(bodies) != 2 {
		t.Fatalf("%d deliveries, want 2 (a 500, then a retry)", len(bodies))
	}
	// What a receiver does: HMAC-SHA256 of the raw body with the shared
	// secret, compared in constant time with the header.
	body, sig := bodies[1], sigs[1]
	want := Sign([]byte(secret), body)
	if !hmac.Equal([]byte(sig), []byte(want)) || !strings.HasPrefix(sig, "sha256=") || len(sig) != len("sha256=")+64 {
		t.Fatalf("signature %q, want %q", sig, want)
	}
	if hmac.Equal([]byte(sig), []byte(Sign([]byte("another secret"), body))) {
		t.Fatal("the signature does not depend on the secret")
	}
	var m Message
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	if m != (Message{Contract: "K-2024-017", Kind: KindBackupFailed, Severity: SeverityCritical, Subject: "backup of job nightly failed",
		Detail: "source docs: restic exited 1", Job: "nightly", Time: "2026-12-01T02:00:05.000+09:00"}) {
		t.Fatalf("message %+v", m)
	}
	recs := records(t, store)
	if len(recs) != 1 || recs[0].Action != "notify.webhook" || recs[0].Result != audit.ResultOK || recs[0].Details["attempts"] != "2" ||
		recs[0].Details["kind"] != KindBackupFailed || recs[0].Details["job"] != "nightly" {
		t.Fatalf("audit %+v", recs)
	}
	for _, r := range recs {
		if strings.Contains(strings.Join(mapValues(r.Details), " "), "T0KEN") {
			t.Fatalf("the audit record holds the URL's path: %+v", r)
		}
	}
}

func mapValues(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// TestWebhookGivesUp: a webhook that always fails is given up on after
// the bounded tries; the failure is an audit record and an error that
// wraps ErrNotDelivered without the URL's path.
func TestWebhookGivesUp(t *testing.T) {
	tries := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tries++
		w.WriteHeader(http.StatusBadGateway)
	}))
	defer srv.Close()
	log, store := newAudit(t)
	n, err := New(Deps{Config: config.Notify{Webhook: &config.Webhook{URL: srv.URL + "/T0KEN", Secret: secretFile(t, "s")}}, Contract: "K", Audit: log})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second) // the caller's bound cuts the backoff short
	defer cancel()
	err = n.Send(ctx, Alert{Kind: KindDrillFailed, Subject: "drill failed"})
	if !errors.Is(err, ErrNotDelivered) || strings.Contains(err.Error(), "T0KEN") || tries < 2 {
		t.Fatalf("err %v after %d tries", err, tries)
	}
	recs := records(t, store)
	if len(recs) != 1 || recs[0].Result != audit.ResultFailed || recs[0].Details["error"] == "" {
		t.Fatalf("audit %+v", recs)
	}
}

// TestPing: start, success and fail reach <url>/start, <url> and
// <url>/fail with {job} replaced.
func TestPing(t *testing.T) {
	var mu sync.Mutex
	var paths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.Method+" "+r.URL.Path)
		mu.Unlock()
	}))
	defer srv.Close()
	n, err := New(Deps{Config: config.Notify{PingURL: srv.URL + "/ping/{job}"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{PingStart, PingSuccess, PingFail} {
		if err := n.Ping(context.Background(), "nightly", k); err != nil {
			t.Fatal(err)
		}
	}
	if got := strings.Join(paths, ","); got != "POST /ping/nightly/start,POST /ping/nightly,POST /ping/nightly/fail" {
		t.Fatalf("pings %s", got)
	}
}

// TestEmailSTARTTLS: a failing backup's alert reaches an SMTP server on
// loopback over STARTTLS (mandatory, the default), with the contract in
// the subject; without the server's CA the mandatory TLS fails and the
// failure is an audit record.
func TestEmailSTARTTLS(t *testing.T) {
	smtp := testenv.StartSMTP(t)
	pool := smtp.Roots
	log, store := newAudit(t)
	cfg := config.Notify{Email: &config.Email{SMTP: smtp.Addr, From: "steward@example.jp", To: []string{"ops@example.jp"}, TLS: config.EmailTLSMandatory}}
	n, err := New(Deps{Config: cfg, Contract: "K-2024-017", Audit: log, Clock: clock.New(tokyo, nil), RootCAs: pool})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Send(context.Background(), Alert{Kind: KindBackupFailed, Severity: SeverityCritical, Subject: "backup of job nightly failed", Job: "nightly"}); err != nil {
		t.Fatal(err)
	}
	if len(smtp.Messages()) != 1 {
		t.Fatalf("%d messages", len(smtp.Messages()))
	}
	got := smtp.Messages()[0]
	if !got.TLS || !strings.Contains(got.From, "steward@example.jp") || len(got.To) != 1 || !strings.Contains(got.To[0], "ops@example.jp") ||
		!strings.Contains(got.Data, "Subject: [Steward K-2024-017] critical: backup of job nightly failed") || !strings.Contains(got.Data, "job:      nightly") {
		t.Fatalf("message %+v", got)
	}

	// The system's roots do not know the test server: mandatory TLS
	// refuses to send in clear text instead.
	n2, err := New(Deps{Config: cfg, Contract: "K", Audit: log})
	if err != nil {
		t.Fatal(err)
	}
	if err := n2.Send(context.Background(), Alert{Kind: KindDrillFailed, Subject: "drill failed"}); !errors.Is(err, ErrNotDelivered) {
		t.Fatalf("unverified server: %v", err)
	}
	recs := records(t, store)
	if len(recs) != 2 || recs[0].Action != "notify.email" || recs[0].Result != audit.ResultOK || recs[1].Result != audit.ResultFailed {
		t.Fatalf("audit %+v", recs)
	}
	if len(smtp.Messages()) != 1 {
		t.Fatal("a message went out without verified TLS")
	}
}

// TestEmailNoTLSOnlyOnLoopback: tls: none is refused for a server off
// loopback.
func TestEmailNoTLSOnlyOnLoopback(t *testing.T) {
	_, err := New(Deps{Config: config.Notify{Email: &config.Email{SMTP: "smtp.example.jp:25", From: "a@b", To: []string{"c@d"}, TLS: config.EmailTLSNone}}})
	if err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Fatalf("err %v", err)
	}
}
