package resticx

import (
	"fmt"
	"sync/atomic"
	"time"
)

// sign is one look at a restic process's signs of life besides its
// output: its CPU time and I/O counters and whether it is stopped.
type sign struct {
	// ok is false when nothing could be read (the process is gone, or the
	// system has no /proc): only output then shows life.
	ok bool
	// counters are the CPU time and I/O counters; any change is a sign of
	// life.
	counters [8]uint64
	// stopped is a process in state T or t (SIGSTOP, a debugger): it can
	// do nothing until continued, whatever its counters said before.
	stopped bool
}

// liveness tracks how long a restic process has shown no sign of life: no
// output on stdout or stderr, no change in its CPU time or I/O counters,
// and no wait on Steward's own input (a `backup --stdin` whose input is
// not written yet waits for Steward, not for restic).
type liveness struct {
	// output counts the bytes restic has printed so far.
	output atomic.Int64
	// feeding is above zero while Steward's copy to restic's stdin waits
	// for its own source.
	feeding atomic.Int32

	last    time.Time
	prev    sign
	prevOut int64
	stopped bool
}

func newLiveness(now time.Time) *liveness { return &liveness{last: now} }

// observe takes the sample s made at now and returns how long the process
// has shown no sign of life.
func (l *liveness) observe(now time.Time, s sign) time.Duration {
	out := l.output.Load()
	alive := out != l.prevOut || l.feeding.Load() > 0
	if s.ok && l.prev.ok && !s.stopped && s.counters != l.prev.counters {
		alive = true
	}
	if alive {
		l.last = now
	}
	l.prev, l.prevOut, l.stopped = s, out, s.ok && s.stopped
	return now.Sub(l.last)
}

// what says what a call without a sign of life waits for.
func (l *liveness) what(command, repoName, location string, idle time.Duration) string {
	msg := fmt.Sprintf("no sign of life for %s (no output, CPU time or I/O): waiting for restic %s on repository %q (%s)", idle.Round(100*time.Millisecond), command, repoName, location)
	if l.stopped {
		msg += "; the restic process is stopped (state T)"
	}
	return msg
}

// countingReader counts what passes through it into n.
type countingReader struct {
	r interface{ Read([]byte) (int, error) }
	n *atomic.Int64
}

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// feedingReader marks, while a Read of Steward's own source is under way,
// that restic waits for Steward rather than the other way round.
type feedingReader struct {
	r interface{ Read([]byte) (int, error) }
	n *atomic.Int32
}

func (f feedingReader) Read(p []byte) (int, error) {
	f.n.Add(1)
	defer f.n.Add(-1)
	return f.r.Read(p)
}
