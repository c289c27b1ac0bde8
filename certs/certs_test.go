package certs

import (
	"context"
	"flag"
	"io"
	"strings"
	"testing"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden text extractions in testdata/")

func TestCertificateSignedAndVerified(t *testing.T) {
	dir := t.TempDir()
	s, _ := testSigner(t, dir)
	for _, withExc := range []bool{false, true} {
		ev := fixtureEvidence(t, withExc)
		name := "cert.pdf"
		if withExc {
			name = "cert-exc.pdf"
		}
		path, sum, err := WriteSigned(context.Background(), dir, name, func(w io.Writer) (*Rendered, error) {
			return RenderCertificate(w, ev, renderOptions(t))
		}, s)
		if err != nil {
			t.Fatal(err)
		}
		if len(sum) != 64 {
			t.Fatalf("sha256 %q", sum)
		}
		out := pdfsig(t, path)
		for _, want := range []string{"Signature is Valid.", "Total document signed"} {
			if !strings.Contains(out, want) {
				t.Fatalf("pdfsig on %s lacks %q:\n%s", name, want, out)
			}
		}
		res, err := Verify(context.Background(), path, VerifyOptions{Fingerprint: fingerprint(t, s)})
		if err != nil {
			t.Fatalf("Verify: %v\n%s", err, res)
		}
		t.Logf("%s", res)
	}
}
