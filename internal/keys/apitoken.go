package keys

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// apiTokenBytes is the API token's strength: 256 random bits.
const apiTokenBytes = 32

// CreateAPIToken writes a new random API token (256 bits, as URL-safe
// base64 text) to path with mode 0600 and returns it. It never replaces a
// token: an existing file is ErrExists.
func CreateAPIToken(path string) (Secret, error) {
	tok := RandomSecret(apiTokenBytes)
	if err := WriteFileExclusive(path, append(bytes.Clone(tok), '\n'), 0o600); err != nil {
		tok.Wipe()
		return nil, fmt.Errorf("api token: %w", err)
	}
	return tok, nil
}

// ReadAPIToken reads the API token at path. A token file that others may
// read is refused (the token opens the API), as is an empty one.
func ReadAPIToken(path string) (Secret, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("api token: %w", err)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("api token %s has mode %04o, so other users may read it: run `chmod 600 %s` and make a new token (delete the file; the next `steward serve` makes one)", path, perm, path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("api token: %w", err)
	}
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return nil, fmt.Errorf("api token %s is empty: delete it, and the next `steward serve` makes a new one", path)
	}
	return Secret(b), nil
}

// EnsureAPIToken reads the API token at path, or creates one when there
// is none (a state dir made before the daemon existed). created says
// which.
func EnsureAPIToken(path string) (tok Secret, created bool, err error) {
	tok, err = ReadAPIToken(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return tok, false, err
	}
	tok, err = CreateAPIToken(path)
	if errors.Is(err, ErrExists) { // made by a concurrent command meanwhile
		tok, err = ReadAPIToken(path)
		return tok, false, err
	}
	return tok, err == nil, err
}
