package backup

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"steward/internal/keys"
	"steward/internal/repo"
	"steward/internal/resticx"
)

// copyTo copies snapshots ids from primary to replica. Directly when one
// restic process can open both; otherwise through a staging repository in
// the state dir's tmp folder: primary → staging with only the primary's
// credentials, staging → replica with only the replica's. The staging
// repository has a random password that is never stored and is removed
// when the copy ends, whatever happens.
func (e *Engine) copyTo(ctx context.Context, runID string, primary, replica *repo.Repo, ids []string) Copy {
	c := Copy{Repository: replica.Name(), Method: "direct"}
	args := append([]string{"copy"}, ids...)
	var err error
	if !repo.NeedsRelay(primary, replica) {
		err = e.repos.WithRetry(ctx, replica, func() error {
			_, err := e.restic.Run(ctx, replica.Restic, resticx.Call{Args: args, From: primary.Restic})
			return err
		})
	} else {
		c.Method = "relay"
		err = e.relayCopy(ctx, runID, primary, replica, args)
	}
	if err != nil {
		c.Result, c.Error = ResultFailed, errText(err)
		return c
	}
	c.Result = ResultOK
	return c
}

func (e *Engine) relayCopy(ctx context.Context, runID string, primary, replica *repo.Repo, args []string) error {
	dir := filepath.Join(e.restic.TmpDir(), "relay-"+runID)
	if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	staging := &resticx.Repository{Name: "relay", Location: dir, Password: keys.RandomSecret(32)}
	defer staging.Password.Wipe()
	if _, err := e.restic.Run(ctx, staging, resticx.Call{Args: []string{"init", "--copy-chunker-params"}, From: primary.Restic}); err != nil {
		return fmt.Errorf("relay: init staging repository: %w", err)
	}
	if _, err := e.restic.Run(ctx, staging, resticx.Call{Args: args, From: primary.Restic}); err != nil {
		return fmt.Errorf("relay: copy from %q: %w", primary.Name(), err)
	}
	return e.repos.WithRetry(ctx, replica, func() error {
		// Every snapshot in staging is one of ids: copy them all.
		_, err := e.restic.Run(ctx, replica.Restic, resticx.Call{Args: []string{"copy"}, From: staging})
		if err != nil {
			return fmt.Errorf("relay: copy to %q: %w", replica.Name(), err)
		}
		return nil
	})
}
