package testenv

import (
	"errors"
	"fmt"
	"os"
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

// pinned names the tools scripts/setup.sh builds into <module root>/bin,
// each with the key of its version in scripts/versions.sh.
var pinned = map[string]string{
	"restic":      "RESTIC_VERSION",
	"versitygw":   "VERSITYGW_VERSION",
	"staticcheck": "STATICCHECK_VERSION",
	"govulncheck": "GOVULNCHECK_VERSION",
}

// Bin returns <module root>/bin/name, the pinned tool that
// scripts/setup.sh builds there at the version scripts/versions.sh names,
// leaving the version it built in bin/.name.version. A tool missing from
// bin, one without that marker, one whose marker is not the pinned
// version, or one that is not pinned at all fails the test, naming the
// setup command: a tool from PATH is never used, so a test run means the
// pinned versions, and integration tests never skip because a component
// is absent.
func Bin(t testing.TB, name string) string {
	t.Helper()
	return binIn(t, RepoRoot(t), name)
}

func binIn(t testing.TB, root, name string) string {
	t.Helper()
	p, err := pinnedBin(root, name)
	if err != nil {
		t.Fatalf("testenv: %v; %s", err, SetupHint)
	}
	return p
}

func pinnedBin(root, name string) (string, error) {
	key, ok := pinned[name]
	if !ok {
		return "", fmt.Errorf("%s is not one of the tools scripts/versions.sh pins", name)
	}
	local := filepath.Join(root, "bin", name)
	if st, err := os.Stat(local); err != nil || st.IsDir() || st.Mode().Perm()&0o111 == 0 {
		return "", fmt.Errorf("find %s: %s is missing or not executable (a %s in PATH is not used: tests run the pinned version)", name, local, name)
	}
	want, err := pinnedVersion(root, key)
	if err != nil {
		return "", err
	}
	marker := filepath.Join(root, "bin", "."+name+".version")
	have, err := os.ReadFile(marker)
	if err != nil {
		return "", fmt.Errorf("%s has no version marker %s: it was not built by scripts/setup.sh, so its version is unknown (want %s)", local, marker, want)
	}
	if v := strings.TrimSpace(string(have)); v != want {
		return "", fmt.Errorf("bin/%s is %s, scripts/versions.sh pins %s", name, v, want)
	}
	return local, nil
}

// pinnedVersion reads key=version from scripts/versions.sh.
func pinnedVersion(root, key string) (string, error) {
	versions, err := os.ReadFile(filepath.Join(root, "scripts", "versions.sh"))
	if err != nil {
		return "", fmt.Errorf("read the pinned versions: %w", err)
	}
	for line := range strings.Lines(string(versions)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), key+"="); ok && v != "" {
			return v, nil
		}
	}
	return "", fmt.Errorf("scripts/versions.sh pins no %s", key)
}
