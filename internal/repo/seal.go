package repo

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"steward/internal/keys"
)

// ErrOtherPassword means the state dir already holds a different sealed
// password for a repository.
var ErrOtherPassword = errors.New("the state dir already holds a different sealed password")

// SealPassword seals pw under the master key into repository name's
// sealed-password file (0600, created exclusively), as `repo init` does,
// so that the repository opens normally afterwards. A file that already
// holds the same password is left alone; one that holds another password
// is ErrOtherPassword (nothing is overwritten). It reports whether it
// wrote the file.
func (o *Opener) SealPassword(name string, pw keys.Secret) (bool, error) {
	if _, ok := o.cfg.Repository(name); !ok {
		return false, fmt.Errorf("%w: %q", ErrNoRepository, name)
	}
	if o.keys == nil {
		return false, fmt.Errorf("repository %q: %w", name, keys.ErrNoMasterKey)
	}
	path := o.SealedPasswordPath(name)
	old, err := o.Password(name)
	switch {
	case err == nil:
		defer old.Wipe()
		if bytes.Equal(old.Reveal(), pw.Reveal()) {
			return false, nil
		}
		return false, fmt.Errorf("repository %q: %w (%s): move it away yourself if it is wrong", name, ErrOtherPassword, path)
	case !errors.Is(err, ErrNotInitialized):
		return false, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return false, err
	}
	if err := o.writeSealed(name, pw); err != nil {
		if errors.Is(err, keys.ErrExists) {
			return false, fmt.Errorf("repository %q: %w (%s)", name, ErrOtherPassword, path)
		}
		return false, err
	}
	return true, nil
}

// writeSealed seals pw under the master key into repository name's
// sealed-password file, created exclusively (0600) and synced.
func (o *Opener) writeSealed(name string, pw keys.Secret) error {
	sealed, err := o.keys.Seal(passwordPurpose(name), pw.Reveal())
	if err != nil {
		return fmt.Errorf("repository %q: seal its password: %w", name, err)
	}
	if err := keys.WriteFileExclusive(o.SealedPasswordPath(name), []byte(sealed+"\n"), 0o600); err != nil {
		return fmt.Errorf("repository %q: store sealed password: %w", name, err)
	}
	return nil
}
