package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestRepoRoot(t *testing.T) {
	root := RepoRoot(t)
	b, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil || !strings.HasPrefix(string(b), "module steward\n") {
		t.Fatalf("go.mod at %s: %v", root, err)
	}
}

// TestBinFound: the tools the tests run are the pinned ones in <root>/bin.
func TestBinFound(t *testing.T) {
	for _, name := range []string{"restic", "versitygw"} {
		if p, want := Bin(t, name), filepath.Join(RepoRoot(t), "bin", name); p != want {
			t.Errorf("Bin(%q) = %s, want the pinned %s", name, p, want)
		}
	}
}

// fatalRecorder records Fatalf and stops the goroutine like testing does.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (f *fatalRecorder) Helper() {}

func (f *fatalRecorder) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// binMessage runs binIn(root, name) and returns its failure message, or
// "" and the path when it returned.
func binMessage(t *testing.T, root, name string) (msg, path string) {
	rec := &fatalRecorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		path = binIn(rec, root, name)
	}()
	<-done
	return rec.msg, path
}

func TestBinMissingFailsNamingSetup(t *testing.T) {
	msg, _ := binMessage(t, RepoRoot(t), "steward-no-such-tool")
	if !strings.Contains(msg, "./scripts/setup.sh") || !strings.Contains(msg, "steward-no-such-tool") {
		t.Fatalf("message = %q, want it to name the tool and ./scripts/setup.sh", msg)
	}
}

// TestBinOnlyThePinnedVersion: a tool is taken from <root>/bin only when
// scripts/setup.sh's version marker says it is the version
// scripts/versions.sh pins; one in PATH is never taken. Every refusal
// names the tool and the setup script.
func TestBinOnlyThePinnedVersion(t *testing.T) {
	// A restic in PATH, which must not be used.
	path := t.TempDir()
	if err := os.WriteFile(filepath.Join(path, "restic"), []byte("#!/bin/sh\necho restic 0.9.0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", path+string(os.PathListSeparator)+os.Getenv("PATH"))
	tests := []struct {
		name   string
		bin    map[string]string // files in <root>/bin
		want   string            // in the message; "" means Bin returns bin/restic
		reason string
	}{
		{"missing from bin, present in PATH", nil, "is missing", "a restic from PATH was accepted"},
		{"not executable", map[string]string{"restic": "", ".restic.version": "v0.18.1"}, "not executable", "a file that cannot run was accepted"},
		{"no version marker", map[string]string{"restic": "x"}, "no version marker", "a restic of unknown version was accepted"},
		{"another version", map[string]string{"restic": "x", ".restic.version": "v0.17.3"}, "bin/restic is v0.17.3, scripts/versions.sh pins v0.18.1", "a stale restic was accepted"},
		{"the pinned version", map[string]string{"restic": "x", ".restic.version": "v0.18.1\n"}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			for dir, files := range map[string]map[string]string{"scripts": {"versions.sh": "RESTIC_VERSION=v0.18.1\nVERSITYGW_VERSION=v1.8.0\n"}, "bin": tt.bin} {
				os.MkdirAll(filepath.Join(root, dir), 0o755)
				for name, body := range files {
					mode := os.FileMode(0o644)
					if name == "restic" && body != "" {
						mode = 0o755
					}
					if err := os.WriteFile(filepath.Join(root, dir, name), []byte(body), mode); err != nil {
						t.Fatal(err)
					}
				}
			}
			msg, p := binMessage(t, root, "restic")
			if tt.want == "" {
				if msg != "" || p != filepath.Join(root, "bin", "restic") {
					t.Fatalf("the pinned restic: %q, %q", p, msg)
				}
				return
			}
			if !strings.Contains(msg, tt.want) || !strings.Contains(msg, "restic") || !strings.Contains(msg, "./scripts/setup.sh") {
				t.Fatalf("%s: message %q, want it to say %q and name restic and ./scripts/setup.sh", tt.reason, msg, tt.want)
			}
		})
	}
}
