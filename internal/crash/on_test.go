//go:build crashpoints

package crash

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// helperEnv makes the test binary reach point "p" three times, printing
// a line after each.
const helperEnv = "STEWARD_CRASH_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		for i := 1; i <= 3; i++ {
			Point("p")
			os.Stdout.WriteString("passed " + string(rune('0'+i)) + "\n")
		}
		At("q", "x")
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestPointKills: STEWARD_CRASH_AT=p kills at the first p, p#2 at the
// second, q:x at At("q", "x"); another name or none lets the process
// finish; the trace file lists every point reached.
func TestPointKills(t *testing.T) {
	for _, tt := range []struct {
		at     string
		passed int // lines printed before the kill; -1: not killed
	}{{"p", 0}, {"p#2", 1}, {"p#3", 2}, {"q:x", 3}, {"p#4", -1}, {"other", -1}, {"", -1}} {
		t.Run(tt.at, func(t *testing.T) {
			trace := filepath.Join(t.TempDir(), "trace")
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), helperEnv+"=1", Env+"="+tt.at, TraceEnv+"="+trace)
			out, err := cmd.Output()
			passed := strings.Count(string(out), "passed")
			var ee *exec.ExitError
			killed := errors.As(err, &ee) && ee.Sys().(syscall.WaitStatus).Signal() == syscall.SIGKILL
			if tt.passed < 0 {
				if err != nil || passed != 3 {
					t.Fatalf("STEWARD_CRASH_AT=%q: %v, %d lines; want no kill", tt.at, err, passed)
				}
			} else if !killed || passed != tt.passed {
				t.Fatalf("STEWARD_CRASH_AT=%q: %v, %d lines; want SIGKILL after %d", tt.at, err, passed, tt.passed)
			}
			b, _ := os.ReadFile(trace)
			want := "p\np\np\nq:x\n"
			if tt.passed >= 0 {
				want = strings.Repeat("p\n", min(tt.passed+1, 3))
				if tt.at == "q:x" {
					want += "q:x\n"
				}
			}
			if string(b) != want {
				t.Errorf("trace %q, want %q", b, want)
			}
		})
	}
}
