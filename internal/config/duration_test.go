package config

import (
	"testing"
	"time"
)

// TestDurationOutOfRange: values that do not fit a duration are errors,
// never a wrapped negative duration that would slip past the contract-end
// checks.
func TestDurationOutOfRange(t *testing.T) {
	for _, s := range []string{"1e300d", "Infd", "+Infd", "NaNd", "106752d", "1000000d", "-1d", "9999999999h"} {
		if d, err := ParseDuration(s); err == nil {
			t.Errorf("%s parsed to %v (%d ns)", s, d.D(), int64(d))
		}
	}
	for s, want := range map[string]time.Duration{"106751d": 106751 * 24 * time.Hour, "1.5d": 36 * time.Hour, "90m": 90 * time.Minute} {
		if d, err := ParseDuration(s); err != nil || d.D() != want {
			t.Errorf("%s = %v, %v; want %v", s, d.D(), err, want)
		}
	}
	// keep_within far past the contract end is a config error, not a
	// value that wraps and is then dropped from restic forget.
	ps := problemsOf(t, `
contract: {id: C1, customer: City, service: Svc, end_date: 2099-01-01}
repositories:
  - {name: r1, local: {path: /tmp/r1}}
sources:
  - {name: s1, path: {path: /tmp/s1}}
jobs:
  - {name: j1, sources: [s1], repository: r1, retention: {keep_within: 1000000d}}
`)
	if len(ps) == 0 {
		t.Fatal("keep_within: 1000000d was accepted")
	}
}
