package schedule

import "errors"

// ErrStopTimedOut means Shutdown's deadline passed with jobs still running.
var ErrStopTimedOut = errors.New("schedule: jobs still running at the shutdown deadline")

// ErrStarted means a job was added after Start.
var ErrStarted = errors.New("schedule: scheduler already started")
