package recovery

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"filippo.io/age"
	"filippo.io/age/armor"
)

func TestKitRoundTrip(t *testing.T) {
	a, _ := age.GenerateX25519Identity()
	b, _ := age.GenerateX25519Identity()
	k := &Kit{Schema: Schema, Contract: "T-1", Created: "2026-12-01T10:00:00+09:00", ResticVersion: "0.18.1",
		Repositories: []KitRepository{{Name: "tokyo", Role: RolePrimary, Location: "/r", KeyID: "abc", Password: "pw-123"}}}
	var buf bytes.Buffer
	if err := k.Encrypt(&buf, []string{a.Recipient().String(), " " + b.Recipient().String()}); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(buf.String(), armor.Header) || strings.Contains(buf.String(), "pw-123") {
		t.Fatalf("kit is not armored age, or shows the password:\n%s", buf.String())
	}
	for _, id := range []*age.X25519Identity{a, b} {
		got, err := Decrypt(bytes.NewReader(buf.Bytes()), id)
		if err != nil {
			t.Fatal(err)
		}
		if got.Repositories[0].Password != "pw-123" || got.Contract != "T-1" {
			t.Fatalf("decrypted %+v", got)
		}
	}
	stranger, _ := age.GenerateX25519Identity()
	if _, err := Decrypt(bytes.NewReader(buf.Bytes()), stranger); err == nil {
		t.Fatal("a stranger decrypted the kit")
	}
}

func TestKitRefusals(t *testing.T) {
	a, _ := age.GenerateX25519Identity()
	tests := []struct {
		name       string
		kit        Kit
		recipients []string
		encryptErr error
		decryptErr error
	}{
		{name: "no recipients", kit: Kit{Schema: Schema}, encryptErr: ErrNoRecipients},
		{name: "bad recipient", kit: Kit{Schema: Schema}, recipients: []string{"age1nope"}},
		{name: "other schema", kit: Kit{Schema: "steward.recovery-kit/v9"}, recipients: []string{a.Recipient().String()}, decryptErr: ErrBadKit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			err := tt.kit.Encrypt(&buf, tt.recipients)
			if tt.decryptErr == nil {
				if err == nil || (tt.encryptErr != nil && !errors.Is(err, tt.encryptErr)) {
					t.Fatalf("Encrypt: %v, want %v", err, tt.encryptErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Decrypt(&buf, a); !errors.Is(err, tt.decryptErr) {
				t.Fatalf("Decrypt: %v, want %v", err, tt.decryptErr)
			}
		})
	}
}
