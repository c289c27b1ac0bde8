package app

import (
	"context"
	"os"
	"testing"
)

// TestReportsInTheSameSecond: two capacity reports and two drill reports
// made in the same second (the clock does not move) are all written, each
// to its own file.
func TestReportsInTheSameSecond(t *testing.T) {
	ctx := context.Background()
	a := newTestApp(t)
	rep, err := a.CapacityReport(ctx, "2026-11")
	if err != nil {
		t.Fatal(err)
	}
	rec := passedRecord()
	putDrill(t, a, rec)
	seen := map[string]bool{}
	for i := range 2 {
		c, err := a.CapacityReportPDF(ctx, rep)
		if err != nil {
			t.Fatalf("capacity report %d in the same second: %v", i+1, err)
		}
		d, _, err := a.DrillReportPDF(ctx, rec.DrillID)
		if err != nil {
			t.Fatalf("drill report %d in the same second: %v", i+1, err)
		}
		for _, p := range []string{c.Path, d.Path} {
			if seen[p] {
				t.Fatalf("%s written twice", p)
			}
			seen[p] = true
		}
	}
	for p := range seen {
		if _, err := os.Stat(p); err != nil {
			t.Error(err)
		}
	}
}
