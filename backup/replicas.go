package backup

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"

	"steward/internal/keys"
	"steward/internal/resticx"
)

// needsRelay reports whether one `restic copy` cannot open both
// repositories: restic gives the source and the destination repository the
// same backend environment (one AWS_ACCESS_KEY_ID, one
// AWS_SECRET_ACCESS_KEY, one AWS_DEFAULT_REGION), so two S3 repositories
// with different keys or regions cannot be reached by one process.
func needsRelay(a, b *repo) bool {
	if a.s3 == nil || b.s3 == nil {
		return false
	}
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"} {
		if !bytes.Equal(a.restic.Env[k].Reveal(), b.restic.Env[k].Reveal()) {
			return true
		}
	}
	return false
}

// copyTo copies snapshots ids from primary to replica. Directly when one
// restic process can open both; otherwise through a staging repository in
// the state dir's tmp folder: primary → staging with only the primary's
// credentials, staging → replica with only the replica's. The staging
// repository has a random password that is never stored and is removed
// when the copy ends, whatever happens.
func (e *Engine) copyTo(ctx context.Context, runID string, primary, replica *repo, ids []string) Copy {
	c := Copy{Repository: replica.name(), Method: "direct"}
	args := append([]string{"copy"}, ids...)
	var err error
	if !needsRelay(primary, replica) {
		err = e.withRetry(ctx, replica, func() error {
			_, err := e.restic.Run(ctx, replica.restic, resticx.Call{Args: args, From: primary.restic})
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

func (e *Engine) relayCopy(ctx context.Context, runID string, primary, replica *repo, args []string) error {
	dir := filepath.Join(e.restic.TmpDir(), "relay-"+runID)
	if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	staging := &resticx.Repository{Name: "relay", Location: dir, Password: keys.RandomSecret(32)}
	defer staging.Password.Wipe()
	if _, err := e.restic.Run(ctx, staging, resticx.Call{Args: []string{"init", "--copy-chunker-params"}, From: primary.restic}); err != nil {
		return fmt.Errorf("relay: init staging repository: %w", err)
	}
	if _, err := e.restic.Run(ctx, staging, resticx.Call{Args: args, From: primary.restic}); err != nil {
		return fmt.Errorf("relay: copy from %q: %w", primary.name(), err)
	}
	return e.withRetry(ctx, replica, func() error {
		// Every snapshot in staging is one of ids: copy them all.
		_, err := e.restic.Run(ctx, replica.restic, resticx.Call{Args: []string{"copy"}, From: staging})
		if err != nil {
			return fmt.Errorf("relay: copy to %q: %w", replica.name(), err)
		}
		return nil
	})
}
