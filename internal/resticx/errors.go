package resticx

import (
	"errors"
	"fmt"
)

// Errors for restic's documented exit codes and for calls that could not run.
var (
	// ErrFailed is exit code 1: the command failed.
	ErrFailed = errors.New("restic failed")
	// ErrIncomplete is exit code 3: a backup was saved but some source
	// data could not be read.
	ErrIncomplete = errors.New("restic could not read some source data")
	// ErrRepoNotFound is exit code 10: the repository does not exist.
	ErrRepoNotFound = errors.New("repository does not exist")
	// ErrLocked is exit code 11: the repository is locked by another process.
	ErrLocked = errors.New("repository is locked")
	// ErrWrongPassword is exit code 12: the password does not open the repository.
	ErrWrongPassword = errors.New("wrong repository password")
	// ErrInterrupted is exit code 130 or a cancelled context.
	ErrInterrupted = errors.New("restic was interrupted")
	// ErrStalled is a call whose progress stopped for longer than its
	// StallAfter (a storage that stopped answering), or whose restic
	// process showed no sign of life for that long (stopped, or stuck).
	ErrStalled = errors.New("restic stopped making progress")
	// ErrDiskFull is a call that failed because a disk restic writes to
	// (a local repository's, the state dir's or a restore target's) is
	// full.
	ErrDiskFull = errors.New("disk is full")
	// ErrTimeout is a call that ran past its deadline.
	ErrTimeout = errors.New("restic ran past its deadline")
	// ErrNotFound means no restic binary was found.
	ErrNotFound = errors.New("restic not found")
	// ErrTooOld means the restic binary is older than MinVersion.
	ErrTooOld = errors.New("restic is too old")
)

// Error is a failed restic call.
type Error struct {
	// Command is restic's subcommand (backup, copy, …).
	Command string
	// Code is restic's exit code (-1 if it did not exit normally).
	Code int
	// Message is restic's own explanation (exit_error or the last error).
	Message string
	kind    error
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("restic %s: %v", e.Command, e.kind)
	if e.Message != "" {
		msg += ": " + e.Message
	}
	if hint := hints[e.kind]; hint != "" {
		msg += " (" + hint + ")"
	}
	return msg
}

// Unwrap lets errors.Is match the kind.
func (e *Error) Unwrap() error { return e.kind }

var hints = map[error]string{
	ErrRepoNotFound:  "create it with `steward repo init`, or check the repository's path or bucket",
	ErrLocked:        "another Steward or restic process is using it; a stale lock from a killed process is removed by `steward repo unlock`",
	ErrWrongPassword: "the sealed password does not match this repository: check that the config names the right repository",
	ErrStalled:       "check that the repository's storage answers and that the restic process is not stopped or stuck (ps -o stat,pid,args -C restic); raise restic.stall_timeout in the config if it must wait longer",
	ErrDiskFull:      "free space on that disk, or give restic room elsewhere, and run the command again; snapshots saved before are kept",
	ErrTimeout:       "raise restic.timeout in the config if the data is large, or check that the storage endpoint answers",
}

func kindForCode(code int) error {
	switch code {
	case 0:
		return nil
	case 3:
		return ErrIncomplete
	case 10:
		return ErrRepoNotFound
	case 11:
		return ErrLocked
	case 12:
		return ErrWrongPassword
	case 130:
		return ErrInterrupted
	default:
		return ErrFailed
	}
}
