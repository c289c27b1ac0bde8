package restore

import (
	"os"
	"path/filepath"
	"testing"

	"steward/internal/config"
)

// TestLiveSourceGuardSeesThroughSymlinks: a restore target that is a
// symlink to the live source, into it, or to a parent of it, is the live
// source (a restore there needs --into-source), however it is spelled.
func TestLiveSourceGuardSeesThroughSymlinks(t *testing.T) {
	dir := t.TempDir()
	live := filepath.Join(dir, "srv", "cases")
	os.MkdirAll(filepath.Join(live, "sub"), 0o700)
	os.MkdirAll(filepath.Join(dir, "elsewhere"), 0o700)
	link := func(name, to string) string {
		p := filepath.Join(dir, name)
		if err := os.Symlink(to, p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	src := &config.Source{Name: "files", Path: &config.PathSource{Path: live}}
	for _, c := range []struct {
		name string
		to   string
		want bool
	}{
		{"the source", live, true},
		{"inside it", filepath.Join(live, "sub"), true},
		{"a parent", filepath.Join(dir, "srv"), true},
		{"a symlink to it", link("to-live", live), true},
		{"a new dir under a symlink to it", filepath.Join(link("to-live-2", live), "new", "dir"), true},
		{"a symlink to a parent", link("to-srv", filepath.Join(dir, "srv")), true},
		{"a dotted spelling", filepath.Join(dir, "elsewhere", "..", "srv", "cases"), true},
		{"elsewhere", filepath.Join(dir, "elsewhere"), false},
		{"a new dir elsewhere", filepath.Join(dir, "elsewhere", "new"), false},
		{"a sibling named like it", filepath.Join(dir, "srv", "cases-restored"), false},
		{"a symlink elsewhere", link("to-elsewhere", filepath.Join(dir, "elsewhere")), false},
	} {
		if got := isSource(src, Target{Dir: c.to}); got != c.want {
			t.Errorf("%s (%s): isSource = %v, want %v", c.name, c.to, got, c.want)
		}
	}
}
