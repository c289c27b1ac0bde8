//go:build crashpoints

package crash

import (
	"os"
	"strconv"
	"sync"
	"syscall"
)

// Enabled reports whether this build has crash points (-tags
// crashpoints).
const Enabled = true

// Env names the point at which the process kills itself; TraceEnv a file
// that collects the names of the points reached.
const (
	Env      = "STEWARD_CRASH_AT"
	TraceEnv = "STEWARD_CRASH_TRACE"
)

var (
	mu      sync.Mutex
	reached = map[string]int{}
)

// Point kills the process with SIGKILL when STEWARD_CRASH_AT is name, or
// name#N and this is the N-th time name is reached.
func Point(name string) {
	mu.Lock()
	defer mu.Unlock()
	reached[name]++
	if f := os.Getenv(TraceEnv); f != "" {
		if w, err := os.OpenFile(f, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600); err == nil {
			w.WriteString(name + "\n")
			w.Close()
		}
	}
	want := os.Getenv(Env)
	if want == "" {
		return
	}
	if want == name || want == name+"#"+strconv.Itoa(reached[name]) {
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // the signal is on its way
	}
}

// At is the crash point name+":"+detail.
func At(name, detail string) { Point(name + ":" + detail) }
