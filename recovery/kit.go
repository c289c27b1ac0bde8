package recovery

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"filippo.io/age"
	"filippo.io/age/armor"
)

// Schema is the kit's format, in its "schema" field.
const Schema = "steward.recovery-kit/v1"

// Repository roles in a kit.
const (
	RolePrimary = "primary"
	RoleReplica = "replica"
)

// Kit is what a recovery kit holds: everything that opens the contract's
// repositories without this host. It holds passwords: it exists in clear
// only in memory, and on disk only encrypted to the recipients.
type Kit struct {
	Schema   string `json:"schema"`
	Contract string `json:"contract"`
	Customer string `json:"customer"`
	// Created is when the kit was made (RFC 3339, the contract's zone).
	Created string `json:"created"`
	// ResticVersion is the restic that made the escrow keys.
	ResticVersion string          `json:"restic_version"`
	Repositories  []KitRepository `json:"repositories"`
	// Instructions say, in the kit itself, how to use it.
	Instructions string `json:"instructions"`
	// AuditHead is the audit log's head when the kit was made: a host
	// rebuilt from the kit names it as the old log's last known head.
	AuditHead *KitAuditHead `json:"audit_head,omitempty"`
}

// KitAuditHead is an audit-log head: its sequence number and hash.
type KitAuditHead struct {
	Seq  int64  `json:"seq"`
	Hash string `json:"hash"`
}

// KitRepository is one repository in a kit.
type KitRepository struct {
	Name string `json:"name"`
	// Role is RolePrimary (some job backs up into it) or RoleReplica.
	Role string `json:"role"`
	// Location is restic's repository string (restic -r).
	Location string `json:"location"`
	// S3 is set for an S3 repository.
	S3 *KitS3 `json:"s3,omitempty"`
	// KeyID is the escrow key's id (restic key list) and Password its
	// password (RESTIC_PASSWORD_FILE).
	KeyID    string `json:"key_id"`
	Password string `json:"password"`
}

// KitS3 is how an S3 repository is reached: the storage the config
// names, with the access key the repository is used with.
type KitS3 struct {
	Endpoint string `json:"endpoint"`
	Region   string `json:"region,omitempty"`
	Bucket   string `json:"bucket"`
	Prefix   string `json:"prefix,omitempty"`
	// Insecure means plain HTTP (a test server on loopback).
	Insecure        bool   `json:"insecure,omitempty"`
	AccessKeyID     string `json:"access_key_id"`
	SecretAccessKey string `json:"secret_access_key"`
}

// instructions is the kit's own note on how to use it.
const instructions = "For each repository: write password to a file (mode 0600), then " +
	"RESTIC_REPOSITORY=<location> RESTIC_PASSWORD_FILE=<file> restic snapshots; for S3 also " +
	"AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_DEFAULT_REGION from s3. " +
	"See Steward's docs/runbook-restore.md, \"Host lost: restore with the recovery kit\"."

// Encrypt writes k as JSON, age-encrypted to recipients and armored, to
// w.
func (k *Kit) Encrypt(w io.Writer, recipients []string) error {
	rs, err := ParseRecipients(recipients)
	if err != nil {
		return err
	}
	aw := armor.NewWriter(w)
	ew, err := age.Encrypt(aw, rs...)
	if err != nil {
		return fmt.Errorf("encrypt the kit: %w", err)
	}
	enc := json.NewEncoder(ew)
	enc.SetIndent("", "  ")
	if err := enc.Encode(k); err != nil {
		return fmt.Errorf("encrypt the kit: %w", err)
	}
	if err := ew.Close(); err != nil {
		return fmt.Errorf("encrypt the kit: %w", err)
	}
	if err := aw.Close(); err != nil {
		return fmt.Errorf("encrypt the kit: %w", err)
	}
	return nil
}

// ParseRecipients parses age X25519 recipients (age1…); an empty list is
// ErrNoRecipients.
func ParseRecipients(recipients []string) ([]age.Recipient, error) {
	if len(recipients) == 0 {
		return nil, ErrNoRecipients
	}
	var rs []age.Recipient
	for i, s := range recipients {
		r, err := age.ParseX25519Recipient(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("recovery.recipients[%d]: %w", i, err)
		}
		rs = append(rs, r)
	}
	return rs, nil
}

// Decrypt reads an armored kit with one of identities.
func Decrypt(r io.Reader, identities ...age.Identity) (*Kit, error) {
	dr, err := age.Decrypt(armor.NewReader(r), identities...)
	if err != nil {
		return nil, fmt.Errorf("decrypt the kit: %w", err)
	}
	var k Kit
	if err := json.NewDecoder(dr).Decode(&k); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadKit, err)
	}
	if k.Schema != Schema {
		return nil, fmt.Errorf("%w: schema %q (this version reads %s)", ErrBadKit, k.Schema, Schema)
	}
	return &k, nil
}

// OpenKitFile decrypts the kit at path with the age identities in
// identityFile (as `age -d -i identityFile` does). It returns the kit and
// the SHA-256 of the kit file, which names it in the audit log.
func OpenKitFile(path, identityFile string) (*Kit, string, error) {
	idf, err := os.Open(identityFile)
	if err != nil {
		return nil, "", fmt.Errorf("identity file: %w", err)
	}
	defer idf.Close()
	ids, err := age.ParseIdentities(idf)
	if err != nil {
		return nil, "", fmt.Errorf("identity file %s: %w", identityFile, err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, "", fmt.Errorf("kit: %w", err)
	}
	sum := sha256.Sum256(b)
	k, err := Decrypt(bytes.NewReader(b), ids...)
	if err != nil {
		return nil, "", fmt.Errorf("kit %s: %w (is %s the identity of one of its recipients?)", path, err, identityFile)
	}
	return k, hex.EncodeToString(sum[:]), nil
}
