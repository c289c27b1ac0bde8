package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.uber.org/goleak"

	"steward/internal/audit"
	"steward/internal/catalog"
	"steward/internal/clock"
	"steward/internal/config"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeReader answers from fixed values: what the server does with them is
// the logic under test (the catalog-derived answers are tested in app).
type fakeReader struct{ ready error }

func (f fakeReader) Status(context.Context) (any, error) {
	return map[string]string{"contract": "K-1"}, nil
}
func (f fakeReader) Runs(context.Context, string, int) ([]Run, error) {
	return []Run{{ID: "r1", Job: "j", Result: "ok"}}, nil
}
func (f fakeReader) Snapshots(context.Context, string) ([]Snapshot, error) { return nil, nil }
func (f fakeReader) Drills(context.Context, int) ([]Drill, error)          { return nil, nil }
func (f fakeReader) Facts(context.Context) (*Facts, error)                 { return &Facts{ClockState: "unknown"}, nil }
func (f fakeReader) Ready(context.Context) error                           { return f.ready }

const testToken = "t0ken-of-the-test-0123456789abcdef"

type served struct {
	url     string
	audit   *audit.Log
	store   catalog.Store
	reports string
}

// serve starts the handler on a real loopback listener over a real
// catalog and audit log; it stops when the test ends.
func serve(t *testing.T, r Reader) *served {
	t.Helper()
	dir := t.TempDir()
	ctx := context.Background()
	store, err := catalog.Create(ctx, filepath.Join(dir, "catalog.db"))
	if err != nil {
		t.Fatal(err)
	}
	log := audit.New(store, filepath.Join(dir, "audit.jsonl"), clock.New(time.UTC, nil))
	reports := filepath.Join(dir, "reports")
	os.Mkdir(reports, 0o700)
	h, err := New(Deps{Reader: r, Audit: log, Token: NewToken([]byte(testToken)), ReportsDir: reports})
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(ctx)
	l, err := Listen(sctx, config.Server{Listen: "127.0.0.1:0"}, h, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stop()
		if err := l.Wait(); err != nil {
			t.Error(err)
		}
		http.DefaultClient.CloseIdleConnections()
		store.Close()
	})
	return &served{url: l.URL(), audit: log, store: store, reports: reports}
}

func get(t *testing.T, url, token string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

func records(t *testing.T, s *served) []audit.Record {
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

// TestAPIToken: a missing and a wrong token get 401 with a JSON error,
// the right one gets the answer; each of the three calls is an audit
// record, and no record holds the token. /healthz and /metrics need none.
func TestAPIToken(t *testing.T) {
	s := serve(t, fakeReader{})
	for _, tt := range []struct {
		name, token string
		code        int
	}{
		{"missing", "", 401},
		{"wrong", "not-" + testToken, 401},
		{"right", testToken, 200},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, body := get(t, s.url+"/api/v1/runs?job=j", tt.token)
			if code != tt.code {
				t.Fatalf("%d %s, want %d", code, body, tt.code)
			}
			if code == 401 {
				var e map[string]string
				if json.Unmarshal(body, &e) != nil || !strings.Contains(e["error"], "Bearer") {
					t.Fatalf("401 body %s", body)
				}
			}
		})
	}
	recs := records(t, s)
	if len(recs) != 3 {
		t.Fatalf("%d audit records, want 3: %+v", len(recs), recs)
	}
	for i, want := range []struct{ result, reason string }{{audit.ResultDenied, "missing bearer token"}, {audit.ResultDenied, "wrong bearer token"}, {audit.ResultOK, ""}} {
		r := recs[i]
		if r.Action != "api.access" || r.Target != "/api/v1/runs" || r.Result != want.result || r.Details["reason"] != want.reason || r.Details["query"] != "job=j" {
			t.Errorf("record %d: %+v", i, r)
		}
	}
	mirror, _ := os.ReadFile(filepath.Join(filepath.Dir(s.reports), "audit.jsonl"))
	if strings.Contains(string(mirror), testToken) || len(mirror) == 0 {
		t.Fatal("the audit log holds the token (or nothing)")
	}
	for _, path := range []string{"/healthz", "/metrics"} {
		if code, body := get(t, s.url+path, ""); code != 200 {
			t.Errorf("%s: %d %s", path, code, body)
		}
	}
	if n := len(records(t, s)); n != 3 {
		t.Errorf("/healthz and /metrics made audit records: %d", n)
	}
}

// TestReportDownload: a report in reports/ downloads byte for byte; a
// name that leads out of reports/ (escaped "../", a symbolic link) or is
// not a PDF is refused, and nothing outside reports/ is sent.
func TestReportDownload(t *testing.T) {
	s := serve(t, fakeReader{})
	pdf := []byte("%PDF-1.7 test report")
	os.WriteFile(filepath.Join(s.reports, "drill-D1.pdf"), pdf, 0o600)
	secret := filepath.Join(filepath.Dir(s.reports), "secret.pdf")
	os.WriteFile(secret, []byte("outside"), 0o600)
	os.Symlink(secret, filepath.Join(s.reports, "link.pdf"))

	code, body := get(t, s.url+"/api/v1/reports/drill-D1.pdf", testToken)
	if code != 200 || string(body) != string(pdf) {
		t.Fatalf("download: %d %q", code, body)
	}
	code, body = get(t, s.url+"/api/v1/reports", testToken)
	if code != 200 || !strings.Contains(string(body), "drill-D1.pdf") {
		t.Fatalf("list: %d %s", code, body)
	}
	for _, path := range []string{
		"/api/v1/reports/..%2Fsecret.pdf",
		"/api/v1/reports/..%2F..%2Fsecret.pdf",
		"/api/v1/reports/link.pdf",
		"/api/v1/reports/..",
		"/api/v1/reports/../secret.pdf",
		"/api/v1/reports/catalog.db",
		"/api/v1/reports/nothing.pdf",
	} {
		code, body := get(t, s.url+path, testToken)
		if code == 200 || strings.Contains(string(body), "outside") {
			t.Errorf("%s: %d %q", path, code, body)
		}
	}
}

// TestReadyz: /readyz says 503 with the reason when the catalog cannot
// record, 200 when it can.
func TestReadyz(t *testing.T) {
	if code, _ := get(t, serve(t, fakeReader{}).url+"/readyz", ""); code != 200 {
		t.Errorf("ready: %d", code)
	}
	code, body := get(t, serve(t, fakeReader{ready: errors.New("catalog: disk full")}).url+"/readyz", "")
	if code != 503 || !strings.Contains(string(body), "disk full") {
		t.Errorf("not ready: %d %s", code, body)
	}
}

// TestListenRefusesPlainNetwork: off loopback, the token would travel in
// clear text without TLS.
func TestListenRefusesPlainNetwork(t *testing.T) {
	_, err := Listen(context.Background(), config.Server{Listen: "0.0.0.0:0"}, http.NotFoundHandler(), nil)
	if !errors.Is(err, ErrPlainNetwork) {
		t.Fatalf("err %v, want ErrPlainNetwork", err)
	}
}

func TestTokenCheck(t *testing.T) {
	tok := NewToken([]byte("abc"))
	for _, tt := range []struct {
		in   string
		want bool
	}{{"abc", true}, {"abd", false}, {"", false}, {"abcd", false}} {
		if got := tok.Check(tt.in); got != tt.want {
			t.Errorf("Check(%q) = %v", tt.in, got)
		}
	}
	if NewToken(nil).Check("") || NewToken(nil).Check("x") {
		t.Error("an empty token opened the API")
	}
}

// TestListenTLSAndGracefulShutdown: with tls_cert and tls_key it serves
// HTTPS; a request in flight when the context ends
// still gets its answer, and Wait returns once the server has stopped.
func TestListenTLSAndGracefulShutdown(t *testing.T) {
	dir := t.TempDir()
	certPEM, keyPEM, pool := testCertPEM(t)
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	os.WriteFile(certFile, certPEM, 0o600)
	os.WriteFile(keyFile, keyPEM, 0o600)

	started, release := make(chan struct{}), make(chan struct{})
	h := http.NewServeMux()
	h.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		io.WriteString(w, "finished")
	})
	ctx, stop := context.WithCancel(context.Background())
	l, err := Listen(ctx, config.Server{Listen: "127.0.0.1:0", TLSCert: certFile, TLSKey: keyFile}, h, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(l.URL(), "https://127.0.0.1:") {
		t.Fatalf("url %s", l.URL())
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer client.CloseIdleConnections()
	got := make(chan string, 1)
	go func() {
		resp, err := client.Get(l.URL() + "/slow")
		if err != nil {
			got <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- string(b)
	}()
	<-started
	stop()
	time.Sleep(100 * time.Millisecond) // the shutdown has begun
	close(release)
	if s := <-got; s != "finished" {
		t.Fatalf("in-flight request: %q", s)
	}
	if err := l.Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Get(l.URL() + "/slow"); err == nil {
		t.Fatal("the server still answers after shutdown")
	}
}

func testCertPEM(t *testing.T) (certPEM, keyPEM []byte, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "steward test"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), pool
}

// brokenReader cannot read the catalog.
type brokenReader struct{ fakeReader }

func (brokenReader) Facts(context.Context) (*Facts, error) {
	return nil, errors.New("catalog: database is locked")
}

// TestMetricsWhenTheCatalogFails: a scrape still answers, parsed by the
// Prometheus text parser, with steward_catalog_up 0 and no Steward value
// that the catalog did not give.
func TestMetricsWhenTheCatalogFails(t *testing.T) {
	s := serve(t, brokenReader{})
	resp, err := http.Get(s.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("%d %v", resp.StatusCode, err)
	}
	up, ok := families["steward_catalog_up"]
	if !ok || up.Metric[0].GetGauge().GetValue() != 0 {
		t.Fatalf("steward_catalog_up: %v", up)
	}
	for name := range families {
		if strings.HasPrefix(name, "steward_") && name != "steward_catalog_up" {
			t.Errorf("%s was reported without the catalog", name)
		}
	}
	if _, ok := families["go_goroutines"]; !ok {
		t.Error("no Go runtime metrics")
	}
}
