package certs

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/digitorus/timestamp"

	"steward/internal/clock"
	"steward/internal/config"
	"steward/internal/keys"
)

// requireTool fails (never skips) when a poppler tool is missing.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found: run scripts/setup.sh (it installs poppler-utils and fonts-ipaexfont-gothic)", name)
	}
	return p
}

// run runs a tool and returns its combined output; a non-zero exit is
// returned as err, not a test failure.
func run(t *testing.T, name string, args ...string) (string, error) {
	t.Helper()
	requireTool(t, name)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	return string(out), err
}

func pdftotext(t *testing.T, path string) string {
	t.Helper()
	out, err := run(t, "pdftotext", "-layout", "-enc", "UTF-8", path, "-")
	if err != nil {
		t.Fatalf("pdftotext %s: %v\n%s", path, err, out)
	}
	return out
}

func pdfsig(t *testing.T, path string) string {
	t.Helper()
	out, _ := run(t, "pdfsig", path)
	return out
}

// renderOptions renders under a fake clock, so output is deterministic.
func renderOptions(t testing.TB) RenderOptions {
	t.Helper()
	if _, err := os.Stat(DefaultFontPath); err != nil {
		t.Fatalf("%s missing: run scripts/setup.sh (it installs fonts-ipaexfont-gothic)", DefaultFontPath)
	}
	return RenderOptions{
		Location: tokyo,
		Clock:    clock.NewFake(at(19, 30)),
		Issuer:   Issuer{Organisation: "株式会社サンプル運用", Signer: "運用責任者 山田太郎"},
	}
}

// testSigner makes a fresh self-signed signing certificate in dir.
func testSigner(t testing.TB, dir string) (*Signer, config.Signing) {
	t.Helper()
	cfg := config.Signing{
		Certificate: filepath.Join(dir, "signing.crt"),
		Key:         filepath.Join(dir, "signing.key"),
		Signer:      "運用責任者 山田太郎",
		Location:    "Tokyo, Japan",
	}
	if _, err := keys.CreateSigningCertificate(cfg.Certificate, cfg.Key,
		keys.SigningSubject{CommonName: "Steward test signer", Organisation: "Sample Ops K.K.", Country: "JP"},
		time.Now(), 2*365*24*time.Hour); err != nil {
		t.Fatal(err)
	}
	s, err := NewSigner(cfg, "データ消去証明 / certificate of data deletion", nil)
	if err != nil {
		t.Fatal(err)
	}
	return s, cfg
}

// renderTo renders with render into a buffer.
func renderTo(t *testing.T, render func(io.Writer) (*Rendered, error)) ([]byte, *Rendered) {
	t.Helper()
	var buf bytes.Buffer
	r, err := render(&buf)
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), r
}

// signBytes signs an unsigned PDF and writes it to dir/name.
func signBytes(t *testing.T, dir, name string, unsigned []byte, s *Signer) string {
	t.Helper()
	path := filepath.Join(dir, name)
	out, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	if err := Sign(context.Background(), bytes.NewReader(unsigned), int64(len(unsigned)), s, out); err != nil {
		t.Fatal(err)
	}
	return path
}

func fingerprint(t *testing.T, s *Signer) string {
	t.Helper()
	return keys.Fingerprint(s.Certificate)
}

// startTSA runs an RFC 3161 time-stamping service on loopback.
func startTSA(t *testing.T, now func() time.Time) *httptest.Server {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(7),
		Subject:               pkix.Name{CommonName: "Steward test TSA", Country: []string{"JP"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageTimeStamping},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	var serial int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		req, err := timestamp.ParseRequest(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		serial++
		ts := timestamp.Timestamp{
			HashAlgorithm:     req.HashAlgorithm,
			HashedMessage:     req.HashedMessage,
			Time:              now(),
			Nonce:             req.Nonce,
			Policy:            []int{1, 3, 6, 1, 4, 1, 99999, 1},
			SerialNumber:      big.NewInt(serial),
			AddTSACertificate: req.Certificates,
		}
		resp, err := ts.CreateResponseWithOpts(cert, key, crypto.SHA256)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/timestamp-reply")
		w.Write(resp)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// normalise collapses all whitespace to single spaces.
func normalise(s string) string { return strings.Join(strings.Fields(s), " ") }
