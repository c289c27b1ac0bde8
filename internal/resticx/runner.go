package resticx

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"steward/internal/keys"
	"steward/internal/state"
)

// Repository is what restic needs to open one repository.
type Repository struct {
	// Name is the repository's name in the config (for messages).
	Name string
	// Location is restic's repository string: a path, or
	// "s3:http(s)://host:port/bucket/prefix".
	Location string
	// Password opens the repository.
	Password keys.Secret
	// Env holds the backend's settings and credentials, e.g.
	// AWS_DEFAULT_REGION, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY. The
	// keys never reach restic's environment: they go in an AWS
	// shared-credentials file on a memfd that restic inherits
	// (AWS_SHARED_CREDENTIALS_FILE=/dev/fd/N); the other settings, which
	// are not secret, are in its environment.
	Env map[string]keys.Secret
}

// Call is one restic invocation.
type Call struct {
	// Args follow the global flags, e.g. {"backup", "/srv/data"}.
	Args []string
	// Stdin feeds `backup --stdin`. An *os.File (the read end of a pipe
	// from NewPipe) becomes restic's stdin itself, with no copy through
	// Steward; the caller closes it once Run has returned, which is what
	// makes a writer still blocked on the pipe fail.
	Stdin io.Reader
	// Timeout bounds the call (the runner's default when zero).
	Timeout time.Duration
	// OnMessage receives each JSON message restic prints on stdout.
	OnMessage func(Message)
	// Stdout, when set, receives stdout verbatim instead of OnMessage
	// (for commands that print one JSON document, such as snapshots).
	Stdout io.Writer
	// From is the source repository of `restic copy`.
	From *Repository
	// NewPassword is the password of `restic key add`: it reaches restic
	// through a pipe, as --new-password-file=/dev/fd/N (never argv or
	// the environment).
	NewPassword keys.Secret
	// Progress asks restic for status messages this many times a second.
	Progress float64
	// KillOnCancel kills restic at once on cancel instead of interrupting
	// it. Only for a call that cannot have saved anything yet, such as a
	// `backup --stdin` started ahead that has not been given its input:
	// restic ignores SIGINT while it waits on stdin. Its lock is left
	// stale (remove it with Unlock).
	KillOnCancel bool
	// Background runs restic at the lowest CPU priority (nice 19), so it
	// takes only CPU time that others leave idle.
	Background bool
	// StallAfter, when set on a call with OnMessage and Progress, stops
	// restic once its status has shown no progress (bytes or files) for
	// that long: a storage that stopped answering fails the call within
	// that time (ErrStalled) instead of after restic's own retries. On
	// any call it also replaces the runner's StallAfter for the liveness
	// watchdog and for the retry watchdog (restic retrying a failing
	// storage for that long is stopped).
	StallAfter time.Duration
	// OnWait, when set, is called while restic shows no progress (with
	// StallAfter, from StallAfter/4 on, about every StallAfter/4) or no
	// sign of life at all (the liveness watchdog), with how long it has
	// waited, so that a long wait says what it waits for.
	OnWait func(waited time.Duration)

	// onRetry, set by the watchdog, receives each line in which restic
	// says it retries a failing storage, and each that says a retried
	// operation succeeded (ok).
	onRetry func(line string, ok bool)
}

// Result is what a successful (or partly successful) call printed.
type Result struct {
	// Summary is the last "summary" message, if any.
	Summary *Message
	// Errors are the "error" messages restic printed on stderr.
	Errors []Message
}

// Runner runs restic for one state dir.
type Runner struct {
	// Bin is the restic binary.
	Bin string
	// StateDir holds the password files (tmp/) and restic's cache (cache/).
	StateDir string
	// Timeout is the default deadline of one call.
	Timeout time.Duration
	// Log receives debug lines (never secrets).
	Log *slog.Logger
	// Started, when set, is called with each restic process once it runs.
	Started func(pid int)
	// Grace is how long restic may take to stop after SIGINT before it is
	// killed (default 15s). restic does not notice SIGINT while it waits
	// on stdin, so a stuck `backup --stdin` is killed after Grace and
	// leaves a stale lock, which `restic unlock` removes.
	Grace time.Duration
	// TimeZone, when set, is restic's TZ: the contract's IANA zone, so
	// that the times restic records and the days, weeks and months that
	// `forget --keep-daily` and the like group snapshots by are the
	// contract's (req 15), not the host's. Unset: the host's TZ, if any.
	TimeZone string
	// StallAfter is the liveness watchdog's deadline for every call (0:
	// none): a restic process that shows no sign of life for that long —
	// no output on stdout or stderr and, on Linux, no change in its CPU
	// time or I/O counters (/proc/PID/stat, /proc/PID/io), or a stopped
	// process — is stopped and its call fails with ErrStalled, naming the
	// subcommand, the repository and what it waited for. A call waiting
	// longer than a few seconds is logged (warn) with what it waits for.
	// A call in which restic has been retrying a failing storage ("…
	// returned error, retrying after …") for that long without a success
	// is stopped too (ErrStalled, naming the repository and restic's last
	// retry): restic itself retries for 15 minutes, showing signs of life
	// all along, so a storage gone mid-call would hold a restore, a drill
	// or a check that long.
	StallAfter time.Duration
}

// TmpDir is where password files and restic's temporary files go.
func (r *Runner) TmpDir() string { return state.Dir(r.StateDir).Tmp() }

// CacheDir is restic's cache (RESTIC_CACHE_DIR).
func (r *Runner) CacheDir() string { return state.Dir(r.StateDir).ResticCache() }

const graceAfterInterrupt = 15 * time.Second

// Run runs restic with call.Args against repo.
func (r *Runner) Run(ctx context.Context, repo *Repository, call Call) (*Result, error) {
	command := "?"
	if len(call.Args) > 0 {
		command = call.Args[0]
	}
	timeout := r.timeout(call)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	env, files, closeFiles, err := r.environment(repo, call)
	if err != nil {
		return nil, fmt.Errorf("restic %s: %w", command, err)
	}
	if call.NewPassword != nil {
		pw, err := passwordPipe(call.NewPassword)
		if err != nil {
			closeFiles()
			return nil, fmt.Errorf("restic %s: new password: %w", command, err)
		}
		files = append(files, pw)
		call.Args = append(slices.Clip(call.Args), fmt.Sprintf("--new-password-file=/dev/fd/%d", 2+len(files)))
		closeRest := closeFiles
		closeFiles = func() { closeRest(); pw.Close() }
	}
	progressWatched := call.StallAfter > 0 && call.OnMessage != nil
	ctx, stalled := watchdog(ctx, &call, cmp.Or(call.StallAfter, r.StallAfter))
	ctx, silenced := context.WithCancel(ctx)
	defer silenced()
	live := newLiveness(time.Now())
	cmd := r.command(ctx, env, call)
	cmd.ExtraFiles = files
	stdout, stderr, err := start(cmd, call, command, live)
	closeFiles() // restic has its own copies now
	if err != nil {
		return nil, err
	}
	if r.Started != nil {
		r.Started(cmd.Process.Pid)
	}
	log := r.logger().With("command", command, "repository", repo.Name, "pid", cmd.Process.Pid)
	log.Debug("restic started")
	var onWait func(time.Duration)
	if !progressWatched {
		onWait = call.OnWait
	}
	dead := r.watchLiveness(ctx, silenced, cmd.Process.Pid, live, cmp.Or(call.StallAfter, r.StallAfter), onWait, log,
		func(idle time.Duration) string { return live.what(command, repo.Name, repo.Location, idle) })

	res, tail := readOutput(countingReader{stdout, &live.output}, countingReader{stderr, &live.output}, call, log)
	waitErr := cmd.Wait()
	log.Debug("restic finished", "err", waitErr)
	silent := dead()

	if waitErr == nil {
		return res, nil
	}
	e := classify(ctx, command, timeout, waitErr, res, tail)
	if d, retried := stalled(); d > 0 && retried != "" {
		e.kind, e.Message = ErrStalled, fmt.Sprintf("restic retried for %s without an answer: check that repository %q (%s) answers; the last retry: %s", d.Round(time.Second), repo.Name, repo.Location, retried)
	} else if d > 0 {
		e.kind, e.Message = ErrStalled, fmt.Sprintf("no progress for %s: check that repository %q (%s) answers", d.Round(time.Second), repo.Name, repo.Location)
	} else if silent != "" {
		e.kind, e.Message = ErrStalled, silent
	} else if full := noSpace(e.Message, res); full != "" {
		if full != e.Message {
			full = e.Message + ": " + full
		}
		e.kind, e.Message = ErrDiskFull, r.fullDisk(repo, call.From, full)
	}
	return res, e
}

// noSpace returns restic's message that says a disk is full (ENOSPC):
// msg, or else the first such "error" message in res, or "".
func noSpace(msg string, res *Result) string {
	const enospc = "no space left on device"
	if strings.Contains(msg, enospc) {
		return msg
	}
	for _, m := range res.Errors {
		if m.Error != nil && strings.Contains(m.Error.Message, enospc) {
			return m.Error.Message
		}
	}
	return ""
}

// fullDisk names the disk that restic found full in msg: a repository's
// (repo or from, when local), the state dir's (restic's cache and
// temporary files), or else the path in msg itself.
func (r *Runner) fullDisk(repo, from *Repository, msg string) string {
	for _, rp := range []*Repository{repo, from} {
		if rp != nil && rp.Location != "" && strings.Contains(msg, rp.Location) {
			return fmt.Sprintf("repository %q (%s): %s", rp.Name, rp.Location, msg)
		}
	}
	if r.StateDir != "" && strings.Contains(msg, r.StateDir) {
		return fmt.Sprintf("the state dir (%s), which holds restic's cache and temporary files: %s", r.StateDir, msg)
	}
	return msg
}

// watchLiveness, when after > 0, samples pid's signs of life (see
// liveness) until dead is called: a wait of a few seconds is logged and
// passed to onWait, and one of after or longer calls silenced, which
// stops restic. dead returns what restic was waiting for when it was
// stopped so, or "".
func (r *Runner) watchLiveness(ctx context.Context, silenced context.CancelFunc, pid int, live *liveness, after time.Duration, onWait func(time.Duration), log *slog.Logger, what func(time.Duration) string) (dead func() string) {
	if after <= 0 {
		return func() string { return "" }
	}
	tick := min(max(after/10, 50*time.Millisecond), time.Second)
	reportAt := min(after/4, 5*time.Second)
	reportEvery := min(max(after/4, time.Second), 30*time.Second)
	var (
		mu       sync.Mutex
		verdict  string
		finished = make(chan struct{})
		stopped  = make(chan struct{})
	)
	go func() {
		defer close(stopped)
		t := time.NewTicker(tick)
		defer t.Stop()
		var reported time.Time
		for {
			select {
			case <-ctx.Done():
				return
			case <-finished:
				return
			case <-t.C:
			}
			now := time.Now()
			idle := live.observe(now, sample(pid))
			switch {
			case idle >= after:
				mu.Lock()
				verdict = what(idle)
				mu.Unlock()
				log.Warn("restic stopped: no sign of life", "waited", idle.Round(100*time.Millisecond), "stall_timeout", after)
				silenced()
				return
			case idle >= reportAt && now.Sub(reported) >= reportEvery:
				reported = now
				log.Warn("restic is not answering: "+what(idle)+"; stopping it after restic.stall_timeout", "stall_timeout", after)
				if onWait != nil {
					onWait(idle)
				}
			}
		}
	}()
	return func() string {
		close(finished)
		<-stopped
		mu.Lock()
		defer mu.Unlock()
		return verdict
	}
}

// watchdog returns a context that is cancelled once restic, for limit
// (zero: never), has shown no progress in its status (a call with
// StallAfter and OnMessage) or has been retrying a failing storage
// without a success; it wraps call.OnMessage and sets call.onRetry to
// watch. stalled reports how long it had waited when it cancelled (0 if
// it did not) and, when restic was retrying, its last retry line.
func watchdog(ctx context.Context, call *Call, limit time.Duration) (context.Context, func() (time.Duration, string)) {
	if limit <= 0 {
		return ctx, func() (time.Duration, string) { return 0, "" }
	}
	ctx, cancel := context.WithCancel(ctx)
	var (
		mu       sync.Mutex
		last     = time.Now()
		seen     Message
		waited   time.Duration
		retried  string
		finished = make(chan struct{})
		// retrying is when restic first said it retries a failing
		// storage since its last success (zero: not retrying), retryLine
		// what it said last. minio-go retries inside each of restic's
		// attempts, so restic's lines come seconds apart.
		retrying  time.Time
		retryLine string
	)
	progress := call.StallAfter > 0 && call.OnMessage != nil
	if progress {
		inner := call.OnMessage
		call.OnMessage = func(m Message) {
			mu.Lock()
			if m.MessageType != "status" || m.BytesDone != seen.BytesDone || m.FilesDone != seen.FilesDone {
				last, seen = time.Now(), m
			}
			mu.Unlock()
			inner(m)
		}
	}
	call.onRetry = func(line string, ok bool) {
		mu.Lock()
		defer mu.Unlock()
		now := time.Now()
		switch {
		case ok:
			retrying = time.Time{}
		case retrying.IsZero():
			retrying = now
			fallthrough
		default:
			retryLine = line
		}
	}
	tick := limit / 4
	go func() {
		defer cancel()
		t := time.NewTicker(tick)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-finished:
				return
			case <-t.C:
			}
			mu.Lock()
			var idle, retry time.Duration
			if progress {
				idle = time.Since(last)
			}
			if !retrying.IsZero() {
				retry = time.Since(retrying)
			}
			line := retryLine
			mu.Unlock()
			switch {
			case retry >= limit:
				mu.Lock()
				waited, retried = retry, line
				mu.Unlock()
				return // cancels restic
			case idle >= limit:
				mu.Lock()
				waited = idle
				mu.Unlock()
				return // cancels restic
			case max(idle, retry) >= tick && call.OnWait != nil:
				call.OnWait(max(idle, retry))
			}
		}
	}()
	return ctx, func() (time.Duration, string) {
		close(finished)
		mu.Lock()
		defer mu.Unlock()
		return waited, retried
	}
}

// timeout is the call's deadline: its own, else the runner's default,
// else an hour.
func (r *Runner) timeout(call Call) time.Duration {
	timeout := call.Timeout
	if timeout == 0 {
		timeout = r.Timeout
	}
	if timeout == 0 {
		timeout = time.Hour
	}
	return timeout
}

// environment makes the tmp and cache dirs and builds restic's
// environment. The password of repo (and of call.From) reaches restic
// through a pipe it inherits (RESTIC_PASSWORD_FILE=/dev/fd/N): the
// password is written into the pipe and its write end closed before restic
// starts, so nothing holds it on disk, in argv or in the environment, even
// if Steward is killed. files are restic's extra files (fd 3, 4); closeFiles
// closes Steward's copies once restic has started, or on failure.
func (r *Runner) environment(repo *Repository, call Call) (env []string, files []*os.File, closeFiles func(), err error) {
	for _, d := range []string{r.TmpDir(), r.CacheDir()} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, nil, nil, err
		}
	}
	closeFiles = func() {
		for _, f := range files {
			f.Close()
		}
	}
	env = r.baseEnv()
	pw, err := passwordPipe(repo.Password)
	if err != nil {
		return nil, nil, nil, err
	}
	files = append(files, pw)
	env = append(env, "RESTIC_REPOSITORY="+repo.Location, fmt.Sprintf("RESTIC_PASSWORD_FILE=/dev/fd/%d", 2+len(files)))
	backend := map[string]keys.Secret{}
	maps.Copy(backend, repo.Env)
	if call.From != nil {
		from, err := passwordPipe(call.From.Password)
		if err != nil {
			closeFiles()
			return nil, nil, nil, err
		}
		files = append(files, from)
		env = append(env, "RESTIC_FROM_REPOSITORY="+call.From.Location, fmt.Sprintf("RESTIC_FROM_PASSWORD_FILE=/dev/fd/%d", 2+len(files)))
		// restic gives both repositories one backend environment; the
		// source's settings win, as they always have (repo.NeedsRelay
		// keeps two S3 repositories with different keys apart).
		maps.Copy(backend, call.From.Env)
	}
	creds, rest, err := s3Credentials(backend)
	if err != nil {
		closeFiles()
		return nil, nil, nil, err
	}
	if creds != nil {
		files = append(files, creds)
		env = append(env, fmt.Sprintf("AWS_SHARED_CREDENTIALS_FILE=/dev/fd/%d", 2+len(files)), "AWS_PROFILE=default")
	}
	for _, k := range slices.Sorted(maps.Keys(rest)) {
		env = append(env, k+"="+string(rest[k].Reveal()))
	}
	if call.Progress > 0 {
		env = append(env, fmt.Sprintf("RESTIC_PROGRESS_FPS=%g", call.Progress))
	}
	return env, files, closeFiles, nil
}

// passwordPipe returns the read end of a pipe that holds pw and then ends.
// A password is far smaller than a pipe's buffer, so the write never
// blocks.
func passwordPipe(pw keys.Secret) (*os.File, error) {
	if len(pw) == 0 {
		return nil, errors.New("no repository password: the repository's sealed password is missing; was it created with `steward repo init`?")
	}
	rd, wr, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("password pipe: %w", err)
	}
	if _, err := wr.Write(pw.Reveal()); err != nil {
		rd.Close()
		wr.Close()
		return nil, fmt.Errorf("password pipe: %w", err)
	}
	if err := wr.Close(); err != nil {
		rd.Close()
		return nil, fmt.Errorf("password pipe: %w", err)
	}
	return rd, nil
}

// command builds the restic command for call: JSON output, env as its
// whole environment, the tmp dir as its working directory, and how it is
// stopped on cancel or when Steward dies.
func (r *Runner) command(ctx context.Context, env []string, call Call) *exec.Cmd {
	args := append([]string{"--json"}, call.Args...)
	cmd := exec.CommandContext(ctx, r.Bin, args...)
	if call.Background {
		// nice execs restic in its own process: the pid, signals and
		// Pdeathsig below are restic's.
		if nice, err := exec.LookPath("nice"); err == nil {
			cmd = exec.CommandContext(ctx, nice, append([]string{"-n", "19", r.Bin}, args...)...)
		}
	}
	cmd.Env = env
	cmd.Dir = r.TmpDir()
	// On cancel or deadline restic gets SIGINT, so that it removes its
	// lock; if it has not exited after the grace period it is killed.
	// A stopped restic (SIGSTOP) is continued after the SIGINT, so that it
	// acts on it.
	cmd.Cancel = func() error {
		err := cmd.Process.Signal(os.Interrupt)
		resume(cmd.Process)
		return err
	}
	if call.KillOnCancel {
		cmd.Cancel = func() error { return cmd.Process.Kill() }
	}
	cmd.WaitDelay = r.Grace
	if cmd.WaitDelay == 0 {
		cmd.WaitDelay = graceAfterInterrupt
	}
	// If Steward dies, restic is interrupted too rather than left running.
	// The kernel sends it when the *thread* that started restic ends, and
	// the Go runtime ends a thread only when a goroutine exits while
	// locked to it (runtime.LockOSThread): nothing in Steward may do that,
	// or restic processes started earlier from that thread are
	// interrupted mid-run.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGINT}
	return cmd
}

// start starts cmd with pipes from its stdout and stderr, and feeds it
// call.Stdin (marking in live the waits for call.Stdin's own data).
func start(cmd *exec.Cmd, call Call, command string, live *liveness) (stdout, stderr io.ReadCloser, err error) {
	stdout, err = cmd.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	stderr, err = cmd.StderrPipe()
	if err != nil {
		return nil, nil, err
	}
	// Stdin is copied by our own goroutine, not exec's: exec's Wait would
	// wait for a copy blocked in call.Stdin.Read even after restic is gone.
	var stdin io.WriteCloser
	if f, ok := call.Stdin.(*os.File); ok {
		cmd.Stdin = f
	} else if call.Stdin != nil {
		if stdin, err = cmd.StdinPipe(); err != nil {
			return nil, nil, err
		}
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("start restic %s: %w", command, err)
	}
	if stdin != nil {
		go func() {
			// A write error means restic stopped reading (it failed or was
			// interrupted); its exit status tells what happened.
			_, _ = io.Copy(stdin, feedingReader{call.Stdin, &live.feeding})
			stdin.Close()
		}()
	}
	return stdout, stderr, nil
}

// stderrTail is what restic's stderr says about a failure besides its
// "error" messages: the "exit_error" message and the last line of text.
type stderrTail struct {
	exitMsg  *Message
	lastText string
}

// readOutput reads restic's stdout and stderr to their end, both at once.
func readOutput(stdout, stderr io.Reader, call Call, log *slog.Logger) (*Result, stderrTail) {
	res := &Result{}
	var tail stderrTail
	errDone := make(chan struct{})
	go func() {
		defer close(errDone)
		tail = readStderr(stderr, res, log, call.onRetry)
	}()
	readStdout(stdout, call, res)
	<-errDone
	return res, tail
}

// readStderr collects restic's "error" messages into res.Errors and
// returns its "exit_error" message and last line of text; text lines are
// logged.
func readStderr(stderr io.Reader, res *Result, log *slog.Logger, onRetry func(string, bool)) stderrTail {
	var tail stderrTail
	sc := bufio.NewScanner(stderr)
	sc.Buffer(make([]byte, 0, 64*1024), 4*1024*1024)
	for sc.Scan() {
		line := sc.Bytes()
		m, ok := parseMessage(line)
		switch {
		case ok && m.MessageType == "exit_error":
			tail.exitMsg = &m
		case ok && m.MessageType == "error":
			res.Errors = append(res.Errors, m)
		case len(bytes.TrimSpace(line)) > 0:
			tail.lastText = string(bytes.TrimSpace(line))
			log.Debug("restic stderr", "line", tail.lastText)
			if onRetry != nil {
				if bytes.Contains(line, []byte(" returned error, retrying after ")) {
					onRetry(tail.lastText, false)
				} else if bytes.Contains(line, []byte(" operation successful after ")) {
					onRetry(tail.lastText, true)
				}
			}
		}
	}
	return tail
}

// readStdout copies restic's stdout to call.Stdout when set; otherwise it
// passes each JSON message to call.OnMessage and keeps the last "summary"
// in res.Summary.
func readStdout(stdout io.Reader, call Call, res *Result) {
	if call.Stdout != nil {
		_, _ = io.Copy(call.Stdout, stdout)
		return
	}
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
	for sc.Scan() {
		m, ok := parseMessage(sc.Bytes())
		if !ok {
			continue
		}
		if m.MessageType == "summary" {
			mm := m
			res.Summary = &mm
		}
		if call.OnMessage != nil {
			call.OnMessage(m)
		}
	}
	_, _ = io.Copy(io.Discard, stdout)
}

// classify makes the error of a call that failed (waitErr): its kind
// comes from ctx (deadline or cancel) or else from restic's exit code, its
// message from restic's exit_error, its last error message or its last
// line of text.
func classify(ctx context.Context, command string, timeout time.Duration, waitErr error, res *Result, tail stderrTail) *Error {
	e := &Error{Command: command, Code: -1}
	var ee *exec.ExitError
	if errors.As(waitErr, &ee) {
		e.Code = ee.ExitCode()
	}
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		e.kind = ErrTimeout
		e.Message = "no answer within " + timeout.String()
	case ctx.Err() != nil:
		e.kind = ErrInterrupted
	default:
		e.kind = kindForCode(e.Code)
	}
	switch {
	case tail.exitMsg != nil && tail.exitMsg.Message != "":
		e.Message = tail.exitMsg.Message
	case len(res.Errors) > 0 && res.Errors[len(res.Errors)-1].Error != nil:
		e.Message = res.Errors[len(res.Errors)-1].Error.Message
	case tail.lastText != "" && e.Message == "":
		e.Message = tail.lastText
	}
	e.Message = strings.TrimPrefix(strings.TrimSpace(e.Message), "Fatal: ")
	return e
}

func parseMessage(line []byte) (Message, bool) {
	line = bytes.TrimSpace(line)
	if len(line) == 0 || line[0] != '{' {
		return Message{}, false
	}
	var m Message
	if err := json.Unmarshal(line, &m); err != nil || m.MessageType == "" {
		return Message{}, false
	}
	m.Raw = append(json.RawMessage(nil), line...)
	return m, true
}

// baseEnv is a minimal environment: nothing from the caller's environment
// that could hold a secret or redirect restic (RESTIC_*, AWS_* are dropped).
func (r *Runner) baseEnv() []string {
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + r.StateDir,
		"TMPDIR=" + r.TmpDir(),
		"RESTIC_CACHE_DIR=" + r.CacheDir(),
		"LANG=C.UTF-8",
	}
	if tz := cmp.Or(r.TimeZone, os.Getenv("TZ")); tz != "" {
		env = append(env, "TZ="+tz)
	}
	return env
}

// s3Keys are the backend variables that are secret: they reach restic in
// a shared-credentials file, never in its environment.
var s3Keys = []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}

// s3Credentials takes the S3 keys out of backend: it returns them as an
// AWS shared-credentials file (profile "default") on a memfd, nil if there
// are none, and the rest of backend (settings that are not secret, such
// as AWS_DEFAULT_REGION), which may go in restic's environment. restic's
// S3 backend (minio-go's credential chain) tries the AWS_* key variables,
// then keys given in the repository's options, then the MINIO_* variables,
// then AWS_SHARED_CREDENTIALS_FILE: baseEnv passes none of those before
// it, so the file is what restic uses. It is a memfd, not a pipe, because
// restic may read it more than once (`restic copy` opens two
// repositories).
func s3Credentials(backend map[string]keys.Secret) (*os.File, map[string]keys.Secret, error) {
	rest := maps.Clone(backend)
	id, secret := rest["AWS_ACCESS_KEY_ID"], rest["AWS_SECRET_ACCESS_KEY"]
	for _, k := range s3Keys {
		delete(rest, k)
	}
	if len(id) == 0 && len(secret) == 0 {
		return nil, rest, nil
	}
	for _, v := range [][]byte{id, secret} {
		if bytes.ContainsAny(v, "\r\n") {
			return nil, nil, errors.New("s3 credentials: an access key or secret key holds a line break; fix the secret the repository's s3 access_key/secret_key refers to")
		}
	}
	// Each value is quoted in backticks, which the ini reader restic uses
	// takes verbatim up to the last backtick on the line: a '#' or ';' in a
	// key would otherwise start a comment.
	var buf bytes.Buffer
	buf.WriteString("[default]\naws_access_key_id = `")
	buf.Write(id)
	buf.WriteString("`\naws_secret_access_key = `")
	buf.Write(secret)
	buf.WriteString("`\n")
	f, err := keys.MemFile("restic-s3-credentials", buf.Bytes())
	wipe(buf.Bytes())
	if err != nil {
		return nil, nil, fmt.Errorf("s3 credentials: %w", err)
	}
	return f, rest, nil
}

func wipe(b []byte) {
	for i := range b {
		b[i] = 0
	}
}

func (r *Runner) logger() *slog.Logger {
	if r.Log != nil {
		return r.Log
	}
	return slog.New(slog.DiscardHandler)
}

// Init creates the repository.
func (r *Runner) Init(ctx context.Context, repo *Repository) error {
	_, err := r.Run(ctx, repo, Call{Args: []string{"init"}, Timeout: 5 * time.Minute})
	return err
}

// Snapshots lists the repository's snapshots, optionally only those
// carrying all of tags.
func (r *Runner) Snapshots(ctx context.Context, repo *Repository, tags ...string) ([]Snapshot, error) {
	args := []string{"snapshots", "--no-lock"}
	if len(tags) > 0 {
		args = append(args, "--tag", strings.Join(tags, ","))
	}
	var buf bytes.Buffer
	if _, err := r.Run(ctx, repo, Call{Args: args, Stdout: &buf, Timeout: 10 * time.Minute}); err != nil {
		return nil, err
	}
	var snaps []Snapshot
	if err := json.Unmarshal(buf.Bytes(), &snaps); err != nil {
		return nil, fmt.Errorf("restic snapshots: unexpected output: %w", err)
	}
	return snaps, nil
}

// Unlock removes stale locks only (never --remove-all).
func (r *Runner) Unlock(ctx context.Context, repo *Repository) error {
	_, err := r.Run(ctx, repo, Call{Args: []string{"unlock"}, Timeout: 5 * time.Minute})
	return err
}
