package keys

import (
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSealUnseal(t *testing.T) {
	dir := t.TempDir()
	if err := CreateMasterKey(dir); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(MasterKeyPath(dir))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("master key mode %v, %v", st.Mode(), err)
	}
	if err := CreateMasterKey(dir); !errors.Is(err, ErrExists) {
		t.Fatalf("second CreateMasterKey: %v", err)
	}
	k, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := k.Seal("repository:a", []byte("pw-123"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(sealed, "pw-123") || !strings.HasPrefix(sealed, SealedPrefix) {
		t.Fatalf("sealed = %q", sealed)
	}
	got, err := k.Unseal("repository:a", sealed)
	if err != nil || string(got.Reveal()) != "pw-123" {
		t.Fatalf("unseal = %q, %v", got.Reveal(), err)
	}
	if _, err := k.Unseal("repository:b", sealed); !errors.Is(err, ErrBadSealed) {
		t.Fatalf("unseal for another purpose: %v", err)
	}
	tampered := sealed[:len(sealed)-2] + "AA"
	if _, err := k.Unseal("repository:a", tampered); !errors.Is(err, ErrBadSealed) {
		t.Fatalf("unseal tampered: %v", err)
	}
	other := t.TempDir()
	_ = CreateMasterKey(other)
	k2, _ := Open(other)
	if _, err := k2.Unseal("repository:a", sealed); !errors.Is(err, ErrBadSealed) {
		t.Fatalf("unseal with another key: %v", err)
	}
}

func TestSecretNeverPrints(t *testing.T) {
	s := Secret("hunter2")
	for _, out := range []string{fmt.Sprint(s), fmt.Sprintf("%v %s %#v", s, s, s)} {
		if strings.Contains(out, "hunter2") {
			t.Fatalf("secret printed: %s", out)
		}
	}
	if r := RandomSecret(32); len(r.Reveal()) != 43 {
		t.Fatalf("random secret length %d", len(r.Reveal()))
	}
}

func TestDestroy(t *testing.T) {
	dir := t.TempDir()
	if err := CreateMasterKey(dir); err != nil {
		t.Fatal(err)
	}
	if err := Destroy(MasterKeyPath(dir)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(MasterKeyPath(dir)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("key still there: %v", err)
	}
	if _, err := Open(dir); !errors.Is(err, ErrNoMasterKey) {
		t.Fatalf("open after destroy: %v", err)
	}
	if err := Destroy(MasterKeyPath(dir)); err != nil {
		t.Fatalf("second destroy: %v", err)
	}
}

func TestSigningCertificate(t *testing.T) {
	dir := t.TempDir()
	cp, kp := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	cert, err := CreateSigningCertificate(cp, kp, SigningSubject{CommonName: "Steward test", Organisation: "Test"}, time.Now(), 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if len(cert.ExtKeyUsage) != 1 || cert.ExtKeyUsage[0] != x509.ExtKeyUsageEmailProtection {
		t.Fatalf("EKU %v", cert.ExtKeyUsage)
	}
	if cert.PublicKeyAlgorithm != x509.ECDSA {
		t.Fatalf("key algorithm %v", cert.PublicKeyAlgorithm)
	}
	if st, _ := os.Stat(kp); st.Mode().Perm() != 0o600 {
		t.Fatalf("key mode %v", st.Mode())
	}
	if _, err := CreateSigningCertificate(cp, kp, SigningSubject{CommonName: "x"}, time.Now(), time.Hour); !errors.Is(err, ErrExists) {
		t.Fatalf("overwrite: %v", err)
	}
	loaded, err := LoadCertificate(cp)
	if err != nil || Fingerprint(loaded) != Fingerprint(cert) || len(Fingerprint(cert)) != 64 {
		t.Fatalf("reload: %v", err)
	}
	if _, err := LoadSigner(kp); err != nil {
		t.Fatal(err)
	}
}

// TestDestroyMaster: after DestroyMaster the key file is gone, Open says
// who destroyed it (never "run init"), a Destroyed keyring seals and
// opens nothing, and destroying again is harmless.
func TestDestroyMaster(t *testing.T) {
	dir := t.TempDir()
	if err := CreateMasterKey(dir); err != nil {
		t.Fatal(err)
	}
	k, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := k.Seal(PurposeConfig, []byte("db-password"))
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := DestroyMaster(dir, "erase plan EP-1, 2026-12-01T10:00:00+09:00"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(MasterKeyPath(dir)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("master key still there: %v", err)
	}
	_, err = Open(dir)
	if !errors.Is(err, ErrMasterKeyDestroyed) || !strings.Contains(err.Error(), "EP-1") || strings.Contains(err.Error(), "init") {
		t.Fatalf("Open after DestroyMaster: %v", err)
	}
	gone := Destroyed(err)
	if _, err := Resolve(gone, "sources[0].postgres.password", sealed); !errors.Is(err, ErrMasterKeyDestroyed) || !strings.Contains(err.Error(), "sources[0].postgres.password") {
		t.Fatalf("Resolve with a destroyed key: %v", err)
	}
	if _, err := gone.Seal(PurposeConfig, []byte("x")); !errors.Is(err, ErrMasterKeyDestroyed) {
		t.Fatalf("Seal with a destroyed key: %v", err)
	}
	// A process killed between the note and the overwrite: the key file is
	// still there, Open refuses it all the same.
	dir2 := t.TempDir()
	CreateMasterKey(dir2)
	os.WriteFile(DestroyedMarkerPath(dir2), []byte("erase plan EP-2\n"), 0o600)
	if _, err := Open(dir2); !errors.Is(err, ErrMasterKeyDestroyed) {
		t.Fatalf("Open with the note and the key: %v", err)
	}
}
