package crash

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
)

// TestReleaseBuildHasNoCrashPoints: steward built as released holds no
// trace of the crash points (not even the environment variable's name);
// built with -tags crashpoints it does, so the scan can tell the two
// apart.
func TestReleaseBuildHasNoCrashPoints(t *testing.T) {
	if testing.Short() {
		t.Skip("builds steward twice")
	}
	dir := t.TempDir()
	for _, tt := range []struct {
		name string
		tags []string
		want bool
	}{
		{"release", nil, false},
		{"crashpoints", []string{"-tags", "crashpoints"}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			bin := filepath.Join(dir, tt.name)
			args := append(append([]string{"build", "-o", bin}, tt.tags...), "steward/cmd/steward")
			if out, err := exec.Command("go", args...).CombinedOutput(); err != nil {
				t.Fatalf("go %v: %v\n%s", args, err, out)
			}
			b, err := os.ReadFile(bin)
			if err != nil {
				t.Fatal(err)
			}
			if got := bytes.Contains(b, []byte("STEWARD_CRASH_AT")); got != tt.want {
				t.Fatalf("the %s binary holds STEWARD_CRASH_AT: %v, want %v", tt.name, got, tt.want)
			}
		})
	}
}

// TestList: every point is listed once, and the erase steps that work
// target by target are erase steps.
func TestList(t *testing.T) {
	l := List()
	seen := map[string]bool{}
	for _, p := range l {
		if seen[p] {
			t.Errorf("%s listed twice", p)
		}
		seen[p] = true
	}
	for _, s := range targetSteps {
		if !slices.Contains(eraseSteps, s) {
			t.Errorf("target step %s is not an erase step", s)
		}
	}
	if len(l) != 10+len(eraseSteps)+len(targetSteps) {
		t.Errorf("List has %d points", len(l))
	}
}
