package testenv

import (
	"fmt"
	"os"
	"slices"
	"testing"
)

// Note prints one line of a benchmark's figures at once, prefixed
// "bench:" (b.Logf would keep only some iterations' lines).
func Note(format string, args ...any) { fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...) }

// Metrics gathers each iteration's figures of a benchmark that runs a
// baseline and Steward back to back: a ratio is reported as the median of
// the iterations (this machine's speed wanders by 20-40% from one minute
// to the next, so the median pair is the fair one), a peak as the largest.
// Every figure is printed as it comes.
type Metrics struct {
	names []string
	vals  map[string][]float64
	peak  map[string]bool
}

// NewMetrics starts an empty set.
func NewMetrics() *Metrics { return &Metrics{vals: map[string][]float64{}, peak: map[string]bool{}} }

func (m *Metrics) add(name string, v float64, peak bool) {
	if _, ok := m.vals[name]; !ok {
		m.names = append(m.names, name)
	}
	m.vals[name] = append(m.vals[name], v)
	m.peak[name] = peak
	Note("  %s %.3f", name, v)
}

// Median adds a figure reported as the median of the iterations.
func (m *Metrics) Median(name string, v float64) { m.add(name, v, false) }

// Max adds a figure reported as the largest of the iterations.
func (m *Metrics) Max(name string, v float64) { m.add(name, v, true) }

// Report reports every figure to b (name-median, or name for a peak) and
// prints each median's range.
func (m *Metrics) Report(b *testing.B) {
	for _, name := range m.names {
		vs := slices.Sorted(slices.Values(m.vals[name]))
		if m.peak[name] {
			b.ReportMetric(vs[len(vs)-1], name)
			continue
		}
		med := vs[len(vs)/2]
		if len(vs)%2 == 0 {
			med = (vs[len(vs)/2-1] + vs[len(vs)/2]) / 2
		}
		b.ReportMetric(med, name+"-median")
		if len(vs) > 1 {
			Note("%s over %d iterations: median %.3f, min %.3f, max %.3f", name, len(vs), med, vs[0], vs[len(vs)-1])
		}
	}
}
