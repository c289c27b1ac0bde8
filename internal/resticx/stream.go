package resticx

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
)

// ErrConsumerDone is what restic's writes see once Stream's consumer has
// returned; a caller may get it back when restic still had output to give.
var ErrConsumerDone = errors.New("consumer finished")

// Stream runs call (a `restic dump`, say) with its standard output handed
// to consume, which runs in its own goroutine. If consume fails, restic is
// stopped (its output is discarded meanwhile, so it never blocks on a full
// pipe). It returns restic's error when restic failed and consume only
// saw the cut stream; consume's when consume failed first and restic was
// stopped for it; both when each failed for its own reason.
func (r *Runner) Stream(ctx context.Context, repo *Repository, call Call, consume func(io.Reader) error) error {
	dctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := consume(pr)
		if err != nil {
			cancel()
		}
		pr.CloseWithError(ErrConsumerDone)
		done <- err
	}()
	call.Stdout = &sinkWriter{w: pw}
	_, err := r.Run(dctx, repo, call)
	if err != nil {
		pw.CloseWithError(err)
	} else {
		pw.Close()
	}
	cerr := <-done
	switch {
	case err != nil && cerr != nil && (errors.Is(cerr, ErrConsumerDone) || strings.Contains(cerr.Error(), err.Error())):
		return err
	case err != nil && cerr != nil && errors.Is(dctx.Err(), context.Canceled) && ctx.Err() == nil:
		return cerr // consume failed first; restic was stopped for it
	case err != nil && cerr != nil:
		return fmt.Errorf("%w (then: %v)", err, cerr)
	case cerr != nil:
		return cerr
	}
	return err
}

// sinkWriter passes writes on until the first error, then swallows them.
type sinkWriter struct {
	w      io.Writer
	failed atomic.Bool
}

func (s *sinkWriter) Write(p []byte) (int, error) {
	if s.failed.Load() {
		return len(p), nil
	}
	if _, err := s.w.Write(p); err != nil {
		s.failed.Store(true)
	}
	return len(p), nil
}
