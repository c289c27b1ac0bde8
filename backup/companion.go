package backup

import (
	"context"
	"errors"
	"io"

	"steward/internal/repo"
	"steward/internal/resticx"
)

// companion is the restic process that saves a run's manifest snapshot,
// started while the data is still being backed up so that its start-up
// (key derivation, index loading: about half a second per restic process)
// overlaps the backup instead of following it. It runs at the lowest CPU
// priority, so it takes only CPU time the backup leaves idle (at worst it
// finishes its start-up after the backup, as a process started then
// would). It waits for its input, which is written only once the data
// snapshot is saved and the manifest complete. If the run fails instead,
// the process is killed before it has read a byte, so it cannot save
// anything; its lock is then stale and is removed with `restic unlock`
// (dropRunSnapshots does both checks).
type companion struct {
	in     *io.PipeWriter
	cancel context.CancelFunc
	done   chan struct{}
	res    *resticx.Result
	err    error
}

// startCompanion starts `restic backup --stdin` for rec's manifest
// snapshot in r. The snapshot is linked to its data snapshot by the same
// run:<id> tag (the data snapshot's id is not known yet).
func (e *Engine) startCompanion(ctx context.Context, rec *RunRecord, r *repo.Repo) *companion {
	ctx, cancel := context.WithCancel(ctx)
	pr, pw := io.Pipe()
	c := &companion{in: pw, cancel: cancel, done: make(chan struct{})}
	args := append([]string{"backup", "--stdin", "--stdin-filename", rec.Source + ".manifest.json"}, runTags(rec, TagManifest)...)
	go func() {
		defer close(c.done)
		c.res, c.err = e.restic.Run(ctx, r.Restic, resticx.Call{Args: args, Stdin: pr, KillOnCancel: true, Background: true})
		// restic is gone: release the runner's stdin copy.
		pr.CloseWithError(errors.New("restic stopped reading"))
	}()
	return c
}

// finish gives the process the manifest and waits for its snapshot. If
// the manifest cannot be read to its end, the process is killed rather
// than given a short input, which it would save.
func (c *companion) finish(body io.Reader) (*resticx.Result, error) {
	defer c.cancel()
	go func() {
		if _, err := io.Copy(c.in, body); err == nil {
			c.in.Close() // the manifest is complete: restic may save it
		} else {
			c.cancel()
		}
	}()
	<-c.done
	return c.res, c.err
}

// abort kills the process before it has any input and waits for it.
func (c *companion) abort() {
	if c == nil {
		return
	}
	c.cancel()
	<-c.done
}
