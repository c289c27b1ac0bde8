package testenv

import (
	"os"
	"testing"
)

// HeavyEnv set to 1 runs the heavier variants of the reliability suite
// (scripts/test.sh --heavy sets it): each fault during every capability,
// where CI runs one capability per fault. docs/reliability.md says which.
const HeavyEnv = "STEWARD_HEAVY"

// Heavy skips the calling test or subtest unless HeavyEnv is 1, saying
// how to run it.
func Heavy(t testing.TB) {
	t.Helper()
	if os.Getenv(HeavyEnv) != "1" {
		t.Skipf("a heavier variant: run it with %s=1 (scripts/test.sh --heavy)", HeavyEnv)
	}
}
