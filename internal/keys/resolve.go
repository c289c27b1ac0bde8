package keys

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"

	"steward/internal/errs"
)

// PurposeConfig is the purpose a secret sealed for the config file is
// sealed with ("sealed:v1:…" references).
const PurposeConfig = "config-secret" // = config.SealedPurpose (what `steward secret seal` uses)

// Resolve reads the secret a config reference points at: "file:/path"
// (the file's content, one trailing newline removed), "env:NAME" or a value
// sealed by Steward's master key. field names the config field, e.g.
// "sources[2].s3.secret_key"; errors name the field and the reference's
// location, never the value. kr may be nil when no sealed value is used.
// A reference that points at nothing (an unset variable, a missing or
// empty file) or is not a reference is the config's fault: a usage error
// (exit 2). A file that cannot be read, or a sealed value that cannot be
// opened, is not.
func Resolve(kr *Keyring, field, ref string) (Secret, error) {
	scheme, rest, _ := strings.Cut(ref, ":")
	switch scheme {
	case "file":
		b, err := os.ReadFile(rest)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil, errs.Usage("%s: secret file %s does not exist: create it (mode 0600) or change the reference", field, rest)
			}
			return nil, fmt.Errorf("%s: read secret file %s: %w", field, rest, err)
		}
		b = bytes.TrimSuffix(b, []byte("\n"))
		b = bytes.TrimSuffix(b, []byte("\r"))
		if len(b) == 0 {
			return nil, errs.Usage("%s: secret file %s is empty: write the secret into it, or change the reference", field, rest)
		}
		return Secret(b), nil
	case "env":
		v, ok := os.LookupEnv(rest)
		if !ok || v == "" {
			return nil, errs.Usage("%s: environment variable %s is not set: export %s before running steward, or change the reference", field, rest, rest)
		}
		return Secret(v), nil
	case "sealed":
		if kr == nil {
			return nil, fmt.Errorf("%s: a sealed value needs the master key: %w", field, ErrNoMasterKey)
		}
		s, err := kr.Unseal(PurposeConfig, ref)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", field, err)
		}
		return s, nil
	case "":
		return nil, errs.Usage("%s: no secret reference given: use file:/path, env:VARIABLE or a sealed value", field)
	}
	return nil, errs.Usage("%s: secrets are never written inline: use file:/path, env:VARIABLE or a sealed value", field)
}

// Check reports whether a file: or env: reference points at a secret (an
// existing, non-empty file; a set, non-empty variable), with Resolve's
// error when it does not; the value is read and wiped, never returned. A
// sealed value is only checked where it is used (it needs the master key).
func Check(field, ref string) error {
	if scheme, _, _ := strings.Cut(ref, ":"); scheme == "sealed" {
		return nil
	}
	s, err := Resolve(nil, field, ref)
	s.Wipe()
	return err
}
