package main

import (
	"context"
	"errors"

	"steward/app"
	"steward/certs"
	"steward/erase"
	"steward/internal/audit"
	"steward/internal/auth"
	"steward/internal/config"
	"steward/internal/errs"
	"steward/internal/resticx"
)

// Exit codes: the one place they are decided. `steward --help` lists them.
const (
	exitOK          = 0
	exitFailure     = 1
	exitUsage       = 2
	exitVerify      = 3
	exitAttention   = 4
	exitInterrupted = 130
)

const exitCodeHelp = `EXIT CODES:
   0    success
   1    failure (the message says what failed and what to do)
   2    usage or config error (nothing was changed)
   3    verification failed (audit log, signature, drill check, erasure)
   4    status: attention needed (a backup older than drills.rpo_target, a drill
        or check failed or overdue, the clock unsynchronised)
   130  interrupted (Ctrl-C or SIGTERM)`

func exitCode(ctx context.Context, err error) int {
	var problems config.Problems
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, context.Canceled), errors.Is(err, resticx.ErrInterrupted), ctx.Err() != nil:
		return exitInterrupted
	case errs.IsUsage(err), errors.As(err, &problems), errors.Is(err, auth.ErrWeakPassword):
		return exitUsage
	case errors.Is(err, errs.ErrVerificationFailed), errors.Is(err, audit.ErrTampered), errors.Is(err, certs.ErrVerificationFailed),
		errors.Is(err, erase.ErrNotVerified):
		return exitVerify
	case errors.Is(err, app.ErrAttention):
		return exitAttention
	default:
		return exitFailure
	}
}
