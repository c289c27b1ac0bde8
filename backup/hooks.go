package backup

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"time"

	"steward/internal/config"
)

// Hook names, as in jobs[].hooks.
const (
	HookBefore    = "before"
	HookAfter     = "after"
	HookOnFailure = "on_failure"
)

// hookOutputLimit bounds the output kept of one hook (stdout and stderr
// together); hookAuditLimit what of it goes into the audit record.
const (
	hookOutputLimit = 16 << 10
	hookAuditLimit  = 1 << 10
)

// HookResult is one hook's run, kept in the report and the run's audit
// record.
type HookResult struct {
	Hook     string   `json:"hook"`
	Argv     []string `json:"argv"`
	ExitCode int      `json:"exit_code"`
	// Output is its stdout and stderr, cut at 16 KiB (Truncated).
	Output    string `json:"output"`
	Truncated bool   `json:"truncated,omitempty"`
	Duration  string `json:"duration"`
	// Error says why it failed ("" when it exited 0).
	Error string `json:"error,omitempty"`
}

func (h HookResult) failed() bool { return h.Error != "" }

// auditText is the hook in one line for the audit record.
func (h HookResult) auditText() string {
	s := fmt.Sprintf("exit %d in %s", h.ExitCode, h.Duration)
	if h.Error != "" {
		s += ": " + h.Error
	}
	out := h.Output
	if len(out) > hookAuditLimit {
		out = out[:hookAuditLimit] + "…"
	}
	if out != "" {
		s += "; output: " + out
	}
	return s
}

// hookEnv is the whole environment of a hook: no secret, no variable of
// Steward's own environment but PATH, HOME and LANG; TZ is the contract's
// zone.
func hookEnv(job, runID, result, zone string) []string {
	path := os.Getenv("PATH")
	if path == "" {
		path = "/usr/local/bin:/usr/bin:/bin"
	}
	env := []string{"PATH=" + path, "HOME=" + os.Getenv("HOME"), "LANG=" + os.Getenv("LANG"), "TZ=" + zone,
		"STEWARD_JOB=" + job, "STEWARD_RUN_ID=" + runID}
	if result != "" {
		env = append(env, "STEWARD_RESULT="+result)
	}
	return env
}

// runHook runs one of the job's hooks (nothing when it has none), without
// a shell, under the hooks' timeout.
func (e *Engine) runHook(ctx context.Context, job *config.Job, which, runID, result string) *HookResult {
	var argv []string
	switch which {
	case HookBefore:
		argv = job.Hooks.Before
	case HookAfter:
		argv = job.Hooks.After
	case HookOnFailure:
		argv = job.Hooks.OnFailure
	}
	if len(argv) == 0 {
		return nil
	}
	timeout := job.Hooks.Timeout.D()
	if timeout <= 0 {
		timeout = 5 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = hookEnv(job.Name, runID, result, e.cfg.Contract.TimeZone)
	cmd.Dir = os.TempDir()
	out := &boundedBuffer{limit: hookOutputLimit}
	cmd.Stdout, cmd.Stderr = out, out
	// A child that keeps the output pipe open must not hold the run.
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	err := cmd.Run()
	h := &HookResult{Hook: which, Argv: append([]string{}, argv...), ExitCode: cmd.ProcessState.ExitCode(),
		Output: out.String(), Truncated: out.truncated, Duration: time.Since(start).Round(time.Millisecond).String()}
	var exitErr *exec.ExitError
	switch {
	case err == nil:
	case ctx.Err() == context.DeadlineExceeded:
		h.Error = fmt.Sprintf("did not finish within %s (jobs[].hooks.timeout)", timeout)
	case ctx.Err() != nil:
		h.Error = "interrupted"
	case errors.As(err, &exitErr):
		h.Error = fmt.Sprintf("exited with %s", exitErr.ProcessState)
	default:
		h.Error = err.Error()
	}
	log := e.log.With("job", job.Name, "hook", which, "exit_code", h.ExitCode, "duration", h.Duration)
	if h.failed() {
		log.Warn("hook failed", "error", h.Error)
	} else {
		log.Info("hook ran")
	}
	return h
}

// boundedBuffer keeps the first limit bytes written to it.
type boundedBuffer struct {
	buf       bytes.Buffer
	limit     int
	truncated bool
}

func (b *boundedBuffer) Write(p []byte) (int, error) {
	if room := b.limit - b.buf.Len(); room < len(p) {
		b.truncated = true
		b.buf.Write(p[:max(room, 0)])
		return len(p), nil
	}
	return b.buf.Write(p)
}

func (b *boundedBuffer) String() string { return b.buf.String() }
