package schedule

import "errors"

// ErrStopTimedOut means Shutdown's deadline passed with jobs still running.
var ErrStopTimedOut = errors.New("schedule: jobs still running at the shutdown deadline")

// ErrStarted means a job was added after Start.
var ErrStarted = errors.New("schedule: scheduler already started")

// ErrRunElsewhere means another daemon sharing the catalog makes (or
// made) a scheduled run, so this one skips it.
var ErrRunElsewhere = errors.New("schedule: run by another daemon")
