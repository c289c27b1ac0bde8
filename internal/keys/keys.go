package keys

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"steward/internal/state"
	"strings"
)

// SealedPrefix starts every sealed value; the config accepts it as a
// secret reference.
const SealedPrefix = "sealed:v1:"

const masterKeySize = 32

// Secret is secret bytes that never print themselves.
type Secret []byte

// String hides the value.
func (Secret) String() string { return "[secret]" }

// GoString hides the value from %#v.
func (Secret) GoString() string { return "[secret]" }

// MarshalJSON hides the value from JSON output.
func (Secret) MarshalJSON() ([]byte, error) { return []byte(`"[secret]"`), nil }

// Reveal gives the bytes to the one caller that must use them.
func (s Secret) Reveal() []byte { return s }

// Wipe overwrites the bytes in memory.
func (s Secret) Wipe() {
	for i := range s {
		s[i] = 0
	}
}

// Keyring is the master key loaded from the state dir.
type Keyring struct {
	aead cipher.AEAD
	// gone, when set, is why there is no key (Destroyed): every Seal and
	// Unseal fails with it.
	gone error
}

// Destroyed is a keyring whose master key contract-end erasure destroyed:
// it seals and opens nothing, and says why.
func Destroyed(why error) *Keyring { return &Keyring{gone: why} }

// Err is why the keyring cannot seal or open anything, or nil.
func (k *Keyring) Err() error { return k.gone }

// MasterKeyPath is where the master key lives in a state dir.
func MasterKeyPath(stateDir string) string { return state.Dir(stateDir).MasterKey() }

// DestroyedMarkerPath is the note DestroyMaster leaves where the master
// key was.
func DestroyedMarkerPath(stateDir string) string { return state.Dir(stateDir).MasterKeyDestroyed() }

// DestroyMaster destroys the state dir's master key (Destroy) at contract
// end, after leaving a note (who, when; no key material) that makes Open
// fail with ErrMasterKeyDestroyed from then on, even if the process dies
// between the two. Every sealed: value sealed with it, in any copy of the
// config, is unreadable afterwards. Running it again is harmless.
func DestroyMaster(stateDir, note string) error {
	marker := DestroyedMarkerPath(stateDir)
	if _, err := os.Stat(marker); errors.Is(err, fs.ErrNotExist) {
		if err := WriteFileExclusive(marker, []byte(note+"\n"), 0o600); err != nil && !errors.Is(err, ErrExists) {
			return fmt.Errorf("mark the master key destroyed: %w", err)
		}
	}
	return Destroy(MasterKeyPath(stateDir))
}

// CreateMasterKey writes a new random master key (0600); it refuses to
// overwrite one.
func CreateMasterKey(stateDir string) error {
	path := MasterKeyPath(stateDir)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	key := make([]byte, masterKeySize)
	if _, err := rand.Read(key); err != nil {
		return err
	}
	defer Secret(key).Wipe()
	return WriteFileExclusive(path, key, 0o600)
}

// Open loads the master key. Once DestroyMaster has run it fails with
// ErrMasterKeyDestroyed, naming who destroyed it and when.
func Open(stateDir string) (*Keyring, error) {
	if note, err := os.ReadFile(DestroyedMarkerPath(stateDir)); err == nil {
		return nil, fmt.Errorf("%w (%s): sealed values cannot be opened any more; give a credential still needed as an env: or file: reference",
			ErrMasterKeyDestroyed, strings.TrimSpace(string(note)))
	}
	key, err := os.ReadFile(MasterKeyPath(stateDir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNoMasterKey
	}
	if err != nil {
		return nil, fmt.Errorf("read master key: %w", err)
	}
	defer Secret(key).Wipe()
	if len(key) != masterKeySize {
		return nil, fmt.Errorf("master key %s has %d bytes, want %d: it is damaged or was destroyed", MasterKeyPath(stateDir), len(key), masterKeySize)
	}
	return newKeyring(key)
}

func newKeyring(key []byte) (*Keyring, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Keyring{aead: aead}, nil
}

// Seal encrypts plaintext for purpose (e.g. "repository:tokyo"); the
// purpose is authenticated, so a value sealed for one use cannot be
// swapped into another.
func (k *Keyring) Seal(purpose string, plaintext []byte) (string, error) {
	if k.gone != nil {
		return "", k.gone
	}
	nonce := make([]byte, k.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		panic("keys: no randomness: " + err.Error())
	}
	ct := k.aead.Seal(nonce, nonce, plaintext, []byte(purpose))
	return SealedPrefix + base64.RawURLEncoding.EncodeToString(ct), nil
}

// Unseal opens a value made by Seal for the same purpose.
func (k *Keyring) Unseal(purpose, sealed string) (Secret, error) {
	if k.gone != nil {
		return nil, k.gone
	}
	b64, ok := strings.CutPrefix(sealed, SealedPrefix)
	if !ok {
		return nil, ErrBadSealed
	}
	ct, err := base64.RawURLEncoding.DecodeString(b64)
	if err != nil || len(ct) < k.aead.NonceSize() {
		return nil, ErrBadSealed
	}
	n := k.aead.NonceSize()
	pt, err := k.aead.Open(nil, ct[:n], ct[n:], []byte(purpose))
	if err != nil {
		return nil, ErrBadSealed
	}
	return Secret(pt), nil
}

// RandomSecret returns n random bytes encoded as URL-safe base64 text, e.g.
// a repository password nobody types or sees.
func RandomSecret(n int) Secret {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("keys: no randomness: " + err.Error())
	}
	out := make([]byte, base64.RawURLEncoding.EncodedLen(n))
	base64.RawURLEncoding.Encode(out, b)
	Secret(b).Wipe()
	return Secret(out)
}

// WriteFileExclusive creates path with perm and data, failing with
// ErrExists if it is already there. The data is synced before return. If
// writing fails (a full disk), the file is removed again: a short file
// left behind would read as a damaged key or checkpoint.
func WriteFileExclusive(path string, data []byte, perm fs.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s: %w", path, ErrExists)
	}
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
	}
	return err
}

// Destroy overwrites a key file with random bytes (three passes, each
// synced) and removes it. A missing file is not an error: destroying twice
// has the same effect as once. This is the cryptographic-erase primitive
// (NIST SP 800-88 purge) used at contract end.
func Destroy(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("destroy %s: %w", path, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	buf := make([]byte, st.Size())
	for pass := 0; pass < 3; pass++ {
		if _, err := rand.Read(buf); err != nil {
			f.Close()
			return err
		}
		if _, err := f.WriteAt(buf, 0); err != nil {
			f.Close()
			return fmt.Errorf("overwrite %s: %w", path, err)
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return fmt.Errorf("sync %s: %w", path, err)
		}
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("remove %s: %w", path, err)
	}
	return nil
}
