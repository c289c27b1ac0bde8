package resticx

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"steward/internal/keys"
)

// Key is one entry of `restic key list --json`.
type Key struct {
	// Current marks the key whose password opened the repository.
	Current  bool   `json:"current"`
	ID       string `json:"id"`
	UserName string `json:"userName"`
	HostName string `json:"hostName"`
	Created  string `json:"created"`
}

// Keys lists the repository's keys, opening it with repo.Password.
func (r *Runner) Keys(ctx context.Context, repo *Repository) ([]Key, error) {
	var buf bytes.Buffer
	if _, err := r.Run(ctx, repo, Call{Args: []string{"key", "list", "--no-lock"}, Stdout: &buf, Timeout: 5 * time.Minute}); err != nil {
		return nil, err
	}
	var ks []Key
	if err := json.Unmarshal(buf.Bytes(), &ks); err != nil {
		return nil, fmt.Errorf("restic key list: unexpected output: %w", err)
	}
	return ks, nil
}

// AddKey adds a key with password pw (labelled user@host in `key list`)
// and returns its id: the key that pw opens, as restic lists it. pw
// reaches restic through a pipe only.
func (r *Runner) AddKey(ctx context.Context, repo *Repository, pw keys.Secret, user, host string) (string, error) {
	if _, err := r.Run(ctx, repo, Call{Args: []string{"key", "add", "--user", user, "--host", host}, NewPassword: pw, Timeout: 5 * time.Minute}); err != nil {
		return "", err
	}
	withNew := *repo
	withNew.Password = pw
	ks, err := r.Keys(ctx, &withNew)
	if err != nil {
		return "", fmt.Errorf("the new key does not open the repository: %w", err)
	}
	for _, k := range ks {
		if k.Current {
			return k.ID, nil
		}
	}
	return "", fmt.Errorf("restic key list: no current key after key add")
}

// RemoveKey removes key id (restic refuses to remove the key that opened
// the repository).
func (r *Runner) RemoveKey(ctx context.Context, repo *Repository, id string) error {
	_, err := r.Run(ctx, repo, Call{Args: []string{"key", "remove", id}, Timeout: 5 * time.Minute})
	return err
}
