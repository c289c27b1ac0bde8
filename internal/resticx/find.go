package resticx

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// MinVersion is the oldest restic Steward runs.
const MinVersion = "0.18.1"

// getRestic tells an operator how to get a suitable restic.
const getRestic = "run ./scripts/setup.sh to build restic " + MinVersion + " into ./bin, or set restic.path in the config"

// Find locates restic: the configured path, ./bin/restic, restic beside the
// steward binary, then PATH. It checks the version.
func Find(ctx context.Context, configured string) (bin, version string, err error) {
	var candidates []string
	if configured != "" {
		candidates = append(candidates, configured)
	} else {
		candidates = append(candidates, filepath.Join("bin", "restic"))
		if exe, err := os.Executable(); err == nil {
			candidates = append(candidates, filepath.Join(filepath.Dir(exe), "restic"))
		}
		if p, err := exec.LookPath("restic"); err == nil {
			candidates = append(candidates, p)
		}
	}
	var tooOld error
	for _, c := range candidates {
		st, err := os.Stat(c)
		if err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
			continue
		}
		abs, _ := filepath.Abs(c)
		v, err := Version(ctx, abs)
		if err != nil {
			tooOld = err
			continue
		}
		return abs, v, nil
	}
	if tooOld != nil {
		return "", "", tooOld
	}
	if configured != "" {
		return "", "", fmt.Errorf("%w at %s (restic.path): %s", ErrNotFound, configured, getRestic)
	}
	return "", "", fmt.Errorf("%w (looked in ./bin, beside steward and in PATH): %s", ErrNotFound, getRestic)
}

var versionRE = regexp.MustCompile(`^restic (\d+)\.(\d+)\.(\d+)`)

// Version runs `restic version` and checks it is at least MinVersion.
func Version(ctx context.Context, bin string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "version")
	cmd.Env = versionEnv() // not Steward's environment, which may hold env: secrets
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s version: %w: %s", bin, err, getRestic)
	}
	m := versionRE.FindStringSubmatch(strings.TrimSpace(string(out)))
	if m == nil {
		return "", fmt.Errorf("%s does not look like restic (it printed %q): %s", bin, firstLine(out), getRestic)
	}
	v := m[1] + "." + m[2] + "." + m[3]
	if !atLeast(v, MinVersion) {
		return v, fmt.Errorf("%w: %s is %s, Steward needs %s or newer: %s", ErrTooOld, bin, v, MinVersion, getRestic)
	}
	return v, nil
}

func atLeast(v, min string) bool {
	a, b := strings.Split(v, "."), strings.Split(min, ".")
	for i := 0; i < 3; i++ {
		x, _ := strconv.Atoi(a[i])
		y, _ := strconv.Atoi(b[i])
		if x != y {
			return x > y
		}
	}
	return true
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(string(b), "\n")
	if len(s) > 80 {
		s = s[:80]
	}
	return s
}

// IsTransient reports errors worth retrying later (locks, timeouts).
func IsTransient(err error) bool {
	return errors.Is(err, ErrLocked) || errors.Is(err, ErrTimeout)
}

// versionEnv is the environment of `restic version`: PATH and the
// locale, nothing of Steward's own environment (which may hold the
// secrets that env: references name).
func versionEnv() []string { return []string{"PATH=" + os.Getenv("PATH"), "LANG=C.UTF-8"} }
