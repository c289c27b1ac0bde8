package certs

import (
	"bytes"
	"context"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unicode/utf16"
)

func utf16be(s string) []byte {
	var b []byte
	for _, u := range utf16.Encode([]rune(s)) {
		b = append(b, byte(u>>8), byte(u))
	}
	return b
}

// pages is pdftotext's text of each page.
func pages(t *testing.T, path string) []string {
	t.Helper()
	return strings.Split(strings.TrimRight(pdftotext(t, path), "\f\n"), "\f")
}

// TestRenderCertificateIsSpecimen: RenderCertificate, the renderer for
// evidence erase did not produce, marks every page and the signed
// Keywords; Verify refuses the result unless specimens are allowed, and
// then still says it is one. IssueCertificate, erase's seam, does not.
func TestRenderCertificateIsSpecimen(t *testing.T) {
	dir := t.TempDir()
	s, _ := testSigner(t, dir)
	ev := fixtureEvidence(t, true)
	path, _, err := WriteSigned(context.Background(), dir, "specimen.pdf", func(w io.Writer) (*Rendered, error) {
		return RenderCertificate(w, ev, renderOptions(t))
	}, s)
	if err != nil {
		t.Fatal(err)
	}
	ps := pages(t, path)
	if len(ps) < 2 {
		t.Fatalf("the specimen has %d page(s), want several", len(ps))
	}
	for i, p := range ps {
		if !strings.Contains(p, "SPECIMEN") || !strings.Contains(p, "見本") {
			t.Errorf("page %d of %d is not marked SPECIMEN / 見本", i+1, len(ps))
		}
	}
	// The golden leaves out the diagonal mark, whose letters pdftotext
	// scatters over the layout; the banner carries the words on each page.
	text, err := run(t, "pdftotext", "-layout", "-nodiag", "-enc", "UTF-8", path, "-")
	if err != nil {
		t.Fatalf("pdftotext: %v\n%s", err, text)
	}
	if strings.Contains(text, "We certify") || strings.Contains(text, "証明します") {
		t.Errorf("the specimen certifies the erasure:\n%s", text)
	}
	if out := pdfsig(t, path); !strings.Contains(out, "Signature is Valid.") {
		t.Fatalf("pdfsig:\n%s", out)
	}
	golden := filepath.Join("testdata", "certificate-specimen.txt")
	if *updateGolden {
		if err := os.WriteFile(golden, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if want, err := os.ReadFile(golden); err != nil || string(want) != text {
		t.Errorf("text differs from %s (%v; rerun with -update if intended):\n%s", golden, err, text)
	}

	res, err := Verify(context.Background(), path, VerifyOptions{Fingerprint: fingerprint(t, s)})
	if !errors.Is(err, ErrVerificationFailed) || !res.Specimen || !strings.Contains(strings.Join(res.Failed, "\n"), "SPECIMEN / 見本") {
		t.Fatalf("Verify of a specimen: %v\n%v", err, res)
	}
	res, err = Verify(context.Background(), path, VerifyOptions{Fingerprint: fingerprint(t, s), AllowSpecimen: true})
	if err != nil || !res.Specimen || !strings.Contains(strings.Join(res.Warnings, "\n"), "SPECIMEN / 見本") ||
		!strings.Contains(res.String(), "it is a SPECIMEN / 見本: it certifies nothing") {
		t.Fatalf("Verify with AllowSpecimen: %v\n%v", err, res)
	}

	issued, _ := signedCertificate(t, t.TempDir(), s, true)
	res, err = Verify(context.Background(), issued, VerifyOptions{Fingerprint: fingerprint(t, s)})
	if err != nil || res.Specimen {
		t.Fatalf("Verify of an issued certificate: %v\n%v", err, res)
	}
	if text := pdftotext(t, issued); strings.Contains(text, "SPECIMEN") || strings.Contains(text, "見本") {
		t.Fatalf("an issued certificate is marked as a specimen")
	}
}

// TestOnlyEraseIssuesCertificates: outside certs, only erase calls
// IssueCertificate; every other path to a certificate (the CLI's
// `certificate render` through app) yields a specimen.
func TestOnlyEraseIssuesCertificates(t *testing.T) {
	// RenderCertificate makes a specimen, whatever the options say.
	opts := renderOptions(t)
	opts.Specimen = false
	unsigned, _ := renderTo(t, func(w io.Writer) (*Rendered, error) { return RenderCertificate(w, fixtureEvidence(t, false), opts) })
	if !bytes.Contains(unsigned, utf16be("steward.specimen=yes")) {
		t.Fatal("RenderCertificate with Specimen false made no specimen")
	}
	root := filepath.Join("..")
	fset := token.NewFileSet()
	var callers []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); name == "testdata" || (strings.HasPrefix(name, ".") && name != "." && name != "..") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		top, _, _ := strings.Cut(filepath.ToSlash(rel), "/")
		if top == "certs" || top == "erase" {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		name := ""
		for _, imp := range f.Imports {
			if p, _ := strconv.Unquote(imp.Path.Value); p == "steward/certs" {
				name = "certs"
				if imp.Name != nil {
					name = imp.Name.Name
				}
			}
		}
		if name == "" {
			return nil
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if sel, ok := n.(*ast.SelectorExpr); ok && sel.Sel.Name == "IssueCertificate" {
				if x, ok := sel.X.(*ast.Ident); ok && x.Name == name {
					callers = append(callers, fset.Position(sel.Pos()).String())
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(callers) > 0 {
		t.Fatalf("certs.IssueCertificate is used outside erase: %v; a certificate is issued only by erase from its own verified evidence", callers)
	}
}
