package app

import (
	"strings"
	"testing"
	"time"

	"steward/internal/clock"
	"steward/internal/config"
)

// A short erase cooling-off is valid (tests use seconds) but warned
// about; the default is not.
func TestConfigWarningsCoolingOff(t *testing.T) {
	const text = `
contract: {id: C1, customer: City, service: Svc, end_date: 2099-01-01}
repositories: [{name: r1, local: {path: /tmp/r1}}, {name: r2, local: {path: /tmp/r2}}]
sources: [{name: s1, path: {path: /tmp/s1}}]
jobs: [{name: j1, sources: [s1], repository: r1, replicas: [r2]}]
`
	c := clock.New(time.UTC, clock.NewFake(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)))
	for _, tt := range []struct {
		erase string
		warn  bool
	}{
		{"", false},
		{"erase: {cooling_off: 24h}\n", false},
		{"erase: {cooling_off: 23h}\n", true},
		{"erase: {cooling_off: 5s}\n", true},
	} {
		cfg, err := config.Parse([]byte(text+tt.erase), t.TempDir(), "test.yaml")
		if err != nil {
			t.Fatalf("%q: %v", tt.erase, err)
		}
		ws := ConfigWarnings(cfg, c)
		got := strings.Contains(strings.Join(ws, "\n"), "erase.cooling_off")
		if got != tt.warn {
			t.Errorf("%q: warned %v, want %v: %v", tt.erase, got, tt.warn, ws)
		}
	}
}
