package certs

import (
	"context"
	"fmt"
	"io"
	"os"
	"testing"

	"steward/internal/keys"
)

// BenchmarkCertificateMillionObjects is P6: a certificate whose evidence
// lists 1,000,000 objects is rendered, its evidence embedded, and signed
// into a file. scripts/bench-p6.sh runs it under /usr/bin/time -v for the
// peak RSS.
func BenchmarkCertificateMillionObjects(b *testing.B) {
	dir := b.TempDir()
	s, _ := testSigner(b, dir)
	ev := fixtureEvidence(b, false)
	ev.Objects = fakeObjects(map[string]int{"t1": 600_000, "t2": 400_000})
	opts := renderOptions(b)
	i := 0
	var size int64
	for b.Loop() {
		i++
		path, _, err := WriteSigned(context.Background(), dir, fmt.Sprintf("cert-%d.pdf", i), func(w io.Writer) (*Rendered, error) {
			r, err := RenderCertificate(w, ev, opts)
			if err == nil && r.Objects.Count != 1_000_000 {
				err = fmt.Errorf("%d objects", r.Objects.Count)
			}
			return r, err
		}, s)
		if err != nil {
			b.Fatal(err)
		}
		st, err := os.Stat(path)
		if err != nil {
			b.Fatal(err)
		}
		size = st.Size()
		os.Remove(path)
	}
	b.ReportMetric(float64(size)/(1<<20), "MiB/pdf")
}

// BenchmarkVerifyMillionObjects verifies a signed certificate whose
// evidence lists 1,000,000 objects.
func BenchmarkVerifyMillionObjects(b *testing.B) {
	dir := b.TempDir()
	s, _ := testSigner(b, dir)
	ev := fixtureEvidence(b, false)
	ev.Objects = fakeObjects(map[string]int{"t1": 600_000, "t2": 400_000})
	opts := renderOptions(b)
	path, _, err := WriteSigned(context.Background(), dir, "cert.pdf", func(w io.Writer) (*Rendered, error) {
		return RenderCertificate(w, ev, opts)
	}, s)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		res, err := Verify(context.Background(), path, VerifyOptions{Fingerprint: keys.Fingerprint(s.Certificate)})
		if err != nil {
			b.Fatalf("%v\n%s", err, res)
		}
		if res.Objects.Count != 1_000_000 {
			b.Fatalf("%d objects", res.Objects.Count)
		}
	}
}
