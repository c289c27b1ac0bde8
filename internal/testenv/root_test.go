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

func TestBinFound(t *testing.T) {
	p := Bin(t, "versitygw")
	if want := filepath.Join(RepoRoot(t), "bin", "versitygw"); p != want {
		t.Logf("versitygw from PATH: %s (not %s)", p, want)
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

func TestBinMissingFailsNamingSetup(t *testing.T) {
	rec := &fatalRecorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		Bin(rec, "steward-no-such-tool")
		rec.msg = "(Bin returned)"
	}()
	<-done
	if !strings.Contains(rec.msg, "./scripts/setup.sh") || !strings.Contains(rec.msg, "steward-no-such-tool") {
		t.Fatalf("message = %q, want it to name the tool and ./scripts/setup.sh", rec.msg)
	}
}
