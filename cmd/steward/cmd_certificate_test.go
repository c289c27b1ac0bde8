package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"steward/app"
)

// tool runs a poppler tool; it fails (never skips) when the tool is
// missing.
func tool(t *testing.T, name string, args ...string) string {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Fatalf("%s not found: run scripts/setup.sh (it installs poppler-utils)", name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, _ := exec.CommandContext(ctx, name, args...).CombinedOutput()
	return string(out)
}

// renderSpecimen runs `steward certificate render` on the example
// evidence in dir and returns the PDF's path.
func renderSpecimen(t *testing.T, dir string) string {
	t.Helper()
	evidence := filepath.Join(repoRoot(t), "examples", "evidence.json")
	code, out, e := stewardRun(t, dir, "", "--json", "certificate", "render", evidence)
	var res map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &res) != nil {
		t.Fatalf("render: %d %s %s", code, out, e)
	}
	path, _ := res["path"].(string)
	if res["status"] != "Erased with exceptions" || !strings.HasPrefix(path, filepath.Join(dir, "steward-state", "reports")) || !strings.HasSuffix(path, ".pdf") {
		t.Fatalf("render result %v", res)
	}
	return path
}

// signerFingerprint is the state dir's signing certificate, as status
// prints it.
func signerFingerprint(t *testing.T, dir string) string {
	t.Helper()
	_, st, _ := stewardRun(t, dir, "", "--json", "status")
	var status app.StatusResult
	if err := json.Unmarshal([]byte(st), &status); err != nil || len(status.Certificate) != 64 {
		t.Fatalf("status: %v %s", err, st)
	}
	return status.Certificate
}

func utf16be(s string) []byte {
	var b []byte
	for _, u := range utf16.Encode([]rune(s)) {
		b = append(b, byte(u>>8), byte(u))
	}
	return b
}

// TestCertificateRenderMakesSpecimen: rendering operator-supplied evidence
// yields a genuinely signed SPECIMEN, marked on every page and in its
// signed metadata, which verify refuses unless told to accept specimens.
func TestCertificateRenderMakesSpecimen(t *testing.T) {
	dir := initDemo(t)
	path := renderSpecimen(t, dir)
	fp := signerFingerprint(t, dir)

	pages := strings.Split(strings.TrimRight(tool(t, "pdftotext", "-enc", "UTF-8", path, "-"), "\f\n"), "\f")
	if len(pages) < 2 {
		t.Fatalf("the specimen has %d page(s); the example evidence should fill more than one", len(pages))
	}
	for i, p := range pages {
		if !strings.Contains(p, "SPECIMEN") || !strings.Contains(p, "見本") {
			t.Errorf("page %d of %d is not marked SPECIMEN / 見本:\n%s", i+1, len(pages), p)
		}
	}
	if text := strings.Join(pages, "\n"); strings.Contains(text, "We certify that all information") {
		t.Errorf("the specimen still certifies the erasure")
	}
	if out := tool(t, "pdfsig", path); !strings.Contains(out, "Signature is Valid.") || !strings.Contains(out, "Total document signed") {
		t.Fatalf("pdfsig does not find the specimen's signature valid:\n%s", out)
	}

	code, out, _ := stewardRun(t, t.TempDir(), "", "verify", "--fingerprint", fp, path)
	if code != exitVerify || !strings.Contains(out, "SPECIMEN") || strings.Contains(out, "all checks passed") {
		t.Fatalf("verify of a specimen: exit %d, want %d and SPECIMEN\n%s", code, exitVerify, out)
	}
	code, out, _ = stewardRun(t, t.TempDir(), "", "verify", "--allow-specimen", "--fingerprint", fp, path)
	if code != 0 || !strings.Contains(out, "SPECIMEN / 見本: it certifies nothing") {
		t.Fatalf("verify --allow-specimen: exit %d, want 0 and the specimen stated\n%s", code, out)
	}
	code, out, _ = stewardRun(t, t.TempDir(), "", "--json", "verify", "--allow-specimen", path)
	var res struct{ Specimen bool }
	if code != 0 || json.Unmarshal([]byte(out), &res) != nil || !res.Specimen {
		t.Fatalf("verify --json --allow-specimen: exit %d, specimen not stated\n%s", code, out)
	}

	// Turning the signed flag off breaks the signature.
	pdf := mustRead(t, path)
	flag := utf16be("steward.specimen=yes")
	if bytes.Count(pdf, flag) != 1 {
		t.Fatalf("the specimen's Keywords hold %d specimen flag(s), want 1", bytes.Count(pdf, flag))
	}
	forged := filepath.Join(t.TempDir(), "forged.pdf")
	os.WriteFile(forged, bytes.Replace(pdf, flag, utf16be("steward.specimen=no "), 1), 0o600)
	if out := tool(t, "pdfsig", forged); strings.Contains(out, "Signature is Valid.") {
		t.Fatalf("pdfsig accepts a specimen whose flag was turned off:\n%s", out)
	}
	code, out, _ = stewardRun(t, t.TempDir(), "", "verify", "--allow-specimen", "--fingerprint", fp, forged)
	if code != exitVerify || !strings.Contains(out, "the signature is invalid") {
		t.Fatalf("verify of a specimen whose flag was turned off: exit %d\n%s", code, out)
	}
}

// TestCertificateRenderVerifyChecks: the signer pin and a flipped byte
// still fail a specimen whose specimen status is accepted.
func TestCertificateRenderVerifyChecks(t *testing.T) {
	dir := initDemo(t)
	path := renderSpecimen(t, dir)
	fp := signerFingerprint(t, dir)
	code, out, _ := stewardRun(t, t.TempDir(), "", "verify", "--allow-specimen", "--fingerprint", fp, path)
	if code != 0 || !strings.Contains(out, "+09:00") {
		t.Fatalf("verify: %d\n%s", code, out)
	}
	if code, _, _ = stewardRun(t, t.TempDir(), "", "verify", "--allow-specimen", "--fingerprint", strings.Repeat("ab", 32), path); code != exitVerify {
		t.Fatalf("wrong fingerprint: exit %d", code)
	}
	pdf := mustRead(t, path)
	pdf[len(pdf)/2] ^= 0xff
	bad := filepath.Join(t.TempDir(), "bad.pdf")
	os.WriteFile(bad, pdf, 0o600)
	if code, out, _ = stewardRun(t, t.TempDir(), "", "verify", "--allow-specimen", bad); code != exitVerify {
		t.Fatalf("flipped byte: exit %d\n%s", code, out)
	}
}

func TestCertificateRenderHelpSaysSpecimen(t *testing.T) {
	code, out, _ := stewardRun(t, t.TempDir(), "", "certificate", "render", "--help")
	if code != 0 || !strings.Contains(out, "SPECIMEN (見本)") || !strings.Contains(out, "never a deletion certificate") {
		t.Fatalf("certificate render --help: %d\n%s", code, out)
	}
}
