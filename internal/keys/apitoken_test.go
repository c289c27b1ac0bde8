package keys

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestAPIToken: a token is 256 random bits as text, 0600, never replaced;
// Ensure makes one only when there is none; a token others may read is
// refused.
func TestAPIToken(t *testing.T) {
	path := filepath.Join(t.TempDir(), "api.token")
	tok, err := CreateAPIToken(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(tok) != 43 { // 32 bytes, unpadded URL-safe base64
		t.Fatalf("token of %d characters", len(tok))
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", st.Mode().Perm())
	}
	if _, err := CreateAPIToken(path); !errors.Is(err, ErrExists) {
		t.Fatalf("second create: %v", err)
	}
	got, created, err := EnsureAPIToken(path)
	if err != nil || created || string(got) != string(tok) {
		t.Fatalf("ensure existing: %v %v", created, err)
	}
	other := filepath.Join(t.TempDir(), "api.token")
	got, created, err = EnsureAPIToken(other)
	if err != nil || !created || len(got) != 43 || string(got) == string(tok) {
		t.Fatalf("ensure new: %v %v", created, err)
	}
	os.Chmod(path, 0o644)
	if _, err := ReadAPIToken(path); err == nil {
		t.Fatal("a token others may read was accepted")
	}
}
