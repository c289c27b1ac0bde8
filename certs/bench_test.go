package certs

import (
	"context"
	"fmt"
	"io"
	"os"
	"testing"
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
