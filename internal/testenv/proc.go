package testenv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Bounds on every wait in this package. They are generous for a loaded
// two-core CI machine; a healthy server takes well under a second.
const (
	startTimeout = 60 * time.Second // server answering after start
	stopGrace    = 2 * time.Second  // after the polite signal, before SIGKILL: versitygw waits for idle keep-alive connections that clients never close
	killWait     = 10 * time.Second // after SIGKILL, for the process to be reaped
	callTimeout  = 30 * time.Second // one helper request (make bucket, SQL, …)
	startTries   = 3                // fresh ports after "address already in use"
	logTailLines = 40
)

// process is one server child: its output goes to a log file and a
// goroutine reaps it, so exit is observable while the test polls it.
type process struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{} // closed once the process has been reaped
	waitErr error         // the result of cmd.Wait, set before done is closed
}

// startProcess starts cmd with stdout and stderr appended to logPath.
func startProcess(name string, cmd *exec.Cmd, logPath string) (*process, error) {
	logf, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open %s log: %w", name, err)
	}
	defer logf.Close() // the child holds its own descriptor
	fmt.Fprintf(logf, "%s%s at %s\n", startMark, name, time.Now().Format(time.RFC3339Nano))
	cmd.Stdout = logf
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

func (p *process) pid() int { return p.cmd.Process.Pid }

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends sig, waits up to stopGrace, then kills. It returns an error
// only when the process could not be reaped at all.
func (p *process) stop(sig syscall.Signal) error {
	if p.exited() {
		return nil
	}
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return p.kill()
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(stopGrace):
		return p.kill()
	}
}

// kill sends SIGKILL and waits for the process to be reaped.
func (p *process) kill() error {
	if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("kill %s (pid %d): %w", p.name, p.pid(), err)
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(killWait):
		return fmt.Errorf("kill %s (pid %d): still running %s after SIGKILL", p.name, p.pid(), killWait)
	}
}

// waitReady polls check until it succeeds, the process exits or
// startTimeout passes; the error says which, with the last check error.
func (p *process) waitReady(check func(ctx context.Context) error) error {
	deadline := time.Now().Add(startTimeout)
	delay := 20 * time.Millisecond
	var last error
	for {
		if p.exited() {
			if p.waitErr == nil {
				return fmt.Errorf("%s exited before answering", p.name)
			}
			return fmt.Errorf("%s exited before answering: %w", p.name, p.waitErr)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		last = check(ctx)
		cancel()
		if last == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not answering after %s: %w", p.name, startTimeout, last)
		}
		select {
		case <-p.done:
		case <-time.After(delay):
		}
		delay = min(delay*2, 250*time.Millisecond)
	}
}

// startMark begins the lines startProcess writes into a log before each
// start, so a log kept over restarts shows which run said what.
const startMark = "--- testenv: starting "

// addrInUse reports whether the last run in the log at path failed to
// bind, the one start failure that a retry on fresh ports can cure.
func addrInUse(path string) bool {
	b, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	last := string(b)
	if i := strings.LastIndex(last, startMark); i >= 0 {
		last = last[i:]
	}
	return strings.Contains(strings.ToLower(last), "address already in use")
}

// logTail returns the last lines of the log at path, for failure messages.
func logTail(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	defer f.Close()
	const maxBytes = 16 << 10
	if st, err := f.Stat(); err == nil && st.Size() > maxBytes {
		if _, err := f.Seek(-maxBytes, io.SeekEnd); err != nil {
			return fmt.Sprintf("(read log: %v)", err)
		}
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return fmt.Sprintf("(read log: %v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > logTailLines {
		lines = lines[len(lines)-logTailLines:]
	}
	return "--- last lines of " + path + ":\n" + strings.Join(lines, "\n")
}

// freePorts returns n distinct TCP ports on 127.0.0.1 that were free a
// moment ago. Another process may take one before the server binds;
// starters retry on fresh ports when the server reports the address in use.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		defer l.Close() // held until all are chosen, so they differ
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func loopback(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

// portOpen reports whether something accepts connections on addr.
func portOpen(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// baseEnv is the environment for a server: only what it needs, so a
// developer's VGW_* or PG* variables cannot change how it starts.
func baseEnv(extra ...string) []string {
	env := []string{"PATH=" + os.Getenv("PATH"), "LANG=C.UTF-8", "TZ=UTC"}
	if tmp := os.Getenv("TMPDIR"); tmp != "" {
		env = append(env, "TMPDIR="+tmp)
	}
	return append(env, extra...)
}
