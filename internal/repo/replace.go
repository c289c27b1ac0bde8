package repo

import (
	"fmt"
	"os"
	"path/filepath"

	"steward/internal/keys"
)

// ReplacePassword seals pw as repository name's password in place of the
// one sealed now: written to <file>.new, synced, then renamed over the
// sealed-password file, so that a crash leaves the old password or the
// new one, never none. The repository must already open with pw (a key
// was added for it); the old password's key is the caller's to remove.
func (o *Opener) ReplacePassword(name string, pw keys.Secret) error {
	if _, ok := o.cfg.Repository(name); !ok {
		return fmt.Errorf("%w: %q", ErrNoRepository, name)
	}
	if o.keys == nil {
		return fmt.Errorf("repository %q: %w", name, keys.ErrNoMasterKey)
	}
	sealed, err := o.keys.Seal(passwordPurpose(name), pw.Reveal())
	if err != nil {
		return fmt.Errorf("repository %q: seal its new password: %w", name, err)
	}
	path := o.SealedPasswordPath(name)
	tmp := path + ".new"
	_ = os.Remove(tmp) // a stale one from a crash
	if err := keys.WriteFileExclusive(tmp, []byte(sealed+"\n"), 0o600); err != nil {
		return fmt.Errorf("repository %q: store the new sealed password: %w", name, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("repository %q: store the new sealed password: %w", name, err)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
