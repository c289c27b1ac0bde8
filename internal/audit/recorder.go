package audit

import (
	"context"
	"log/slog"
)

// Appender appends audit records (Log has it).
type Appender interface {
	Append(ctx context.Context, e Entry) (Record, error)
}

// Recorder is how a capability writes its audit records: it appends even
// when the caller's context is cancelled (an interrupted run must still be
// on record), and a failed append is logged, not returned, so that the
// outcome of the work itself is what the caller reports. A nil Recorder,
// or one over a nil Appender, records nothing (tests of pure logic).
type Recorder struct {
	to  Appender
	log *slog.Logger
}

// NewRecorder returns a Recorder appending to a and logging failures to
// log (nil: discarded).
func NewRecorder(a Appender, log *slog.Logger) *Recorder {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Recorder{to: a, log: log}
}

// Record appends one record.
func (r *Recorder) Record(ctx context.Context, action, target, result string, details map[string]string) {
	if r == nil || r.to == nil {
		return
	}
	if _, err := r.to.Append(context.WithoutCancel(ctx), Entry{Action: action, Target: target, Result: result, Details: details}); err != nil {
		r.log.Error("audit append failed", "action", action, "err", err)
	}
}

// Begin appends the record that work is starting, and returns the error
// when it could not be appended: work that must be on record (a restore,
// say) does not start unrecorded. A nil Recorder records nothing and
// returns nil.
func (r *Recorder) Begin(ctx context.Context, action, target, result string, details map[string]string) error {
	if r == nil || r.to == nil {
		return nil
	}
	_, err := r.to.Append(context.WithoutCancel(ctx), Entry{Action: action, Target: target, Result: result, Details: details})
	return err
}
