// Package errs holds the error kinds that decide Steward's exit code: a
// usage error (the operator's input is wrong: exit 2) and a failed
// verification (exit 3). Everything else is a plain failure (exit 1).
// The mapping itself is in cmd/steward/exitcodes.go.
package errs

import (
	"errors"
	"fmt"
)

// ErrVerificationFailed is wrapped by errors that mean "checked, and it did
// not hold": a tampered audit log, a bad signature, a failed drill check.
var ErrVerificationFailed = errors.New("verification failed")

type usageError struct{ err error }

func (u usageError) Error() string { return u.err.Error() }
func (u usageError) Unwrap() error { return u.err }

// Usage makes an error that says the operator's input is wrong. The
// message names the flag or field and what to do.
func Usage(format string, a ...any) error {
	return usageError{fmt.Errorf(format, a...)}
}

// AsUsage marks err as a usage error.
func AsUsage(err error) error {
	if err == nil {
		return nil
	}
	return usageError{err}
}

// IsUsage reports whether err is (or wraps) a usage error.
func IsUsage(err error) bool {
	var u usageError
	return errors.As(err, &u)
}
