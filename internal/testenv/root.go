package testenv

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// SetupHint is the command that installs every component the integration
// tests need. Every "missing component" failure names it.
const SetupHint = "run ./scripts/setup.sh (or make setup) from the module root"

var (
	rootOnce sync.Once
	rootDir  string
	rootErr  error
)

// RepoRoot returns the module root: the nearest directory at or above the
// working directory that holds go.mod. Tests run in their package's
// directory, so this finds Steward's root from any package.
func RepoRoot(t testing.TB) string {
	t.Helper()
	rootOnce.Do(func() { rootDir, rootErr = findRoot() })
	if rootErr != nil {
		t.Fatalf("testenv: %v", rootErr)
	}
	return rootDir
}

func findRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("find module root: no go.mod at or above the working directory")
		}
		dir = parent
	}
}

// Bin returns the path of the tool name: <module root>/bin/name when it is
// there (scripts/setup.sh builds the pinned versions into it), else the
// first name in PATH. A missing tool fails the test, naming the setup
// command: integration tests never skip because a component is absent.
func Bin(t testing.TB, name string) string {
	t.Helper()
	p, err := lookBin(RepoRoot(t), name)
	if err != nil {
		t.Fatalf("testenv: %v; %s", err, SetupHint)
	}
	return p
}

func lookBin(root, name string) (string, error) {
	local := filepath.Join(root, "bin", name)
	if st, err := os.Stat(local); err == nil && !st.IsDir() && st.Mode().Perm()&0o111 != 0 {
		return local, nil
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("find %s: not in %s nor in PATH", name, local)
	}
	return p, nil
}

// checkPinned fails the test when scripts/setup.sh left a version marker
// for name (bin/.name.version) that differs from the version pinned in
// scripts/versions.sh under key: the tool in bin is stale. Without a marker
// (a tool from PATH, or built by hand) there is nothing to compare.
func checkPinned(t testing.TB, name, key string) {
	t.Helper()
	root := RepoRoot(t)
	have, err := os.ReadFile(filepath.Join(root, "bin", "."+name+".version"))
	if err != nil {
		return
	}
	versions, err := os.ReadFile(filepath.Join(root, "scripts", "versions.sh"))
	if err != nil {
		return
	}
	for line := range strings.Lines(string(versions)) {
		want, ok := strings.CutPrefix(strings.TrimSpace(line), key+"=")
		if ok && strings.TrimSpace(string(have)) != want {
			t.Fatalf("testenv: bin/%s is %s, scripts/versions.sh pins %s; %s",
				name, strings.TrimSpace(string(have)), want, SetupHint)
		}
	}
}
