package recovery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"steward/internal/catalog"
)

// RecordKey is the catalog key of the last kit's Record.
const RecordKey = "recovery.kit"

// Record is what the catalog keeps of the last kit: which escrow key each
// repository has and how to recognise the kit. It holds no password.
type Record struct {
	// Created is when the kit was made (RFC 3339, the contract's zone).
	Created string `json:"created"`
	// File is where the kit was written and SHA256 the SHA-256 (hex) of
	// its bytes.
	File   string `json:"file"`
	SHA256 string `json:"sha256"`
	// Recipients are the age recipients the kit is encrypted to.
	Recipients []string `json:"recipients"`
	// KitLocation is recovery.kit_location when the kit was made.
	KitLocation   string             `json:"kit_location,omitempty"`
	ResticVersion string             `json:"restic_version"`
	Rotated       bool               `json:"rotated"`
	Repositories  []RecordRepository `json:"repositories"`
}

// RecordRepository is one repository's escrow key.
type RecordRepository struct {
	Name     string `json:"name"`
	Role     string `json:"role"`
	Location string `json:"location"`
	KeyID    string `json:"key_id"`
	// Removed are the older escrow keys a rotation removed.
	Removed []string `json:"removed_key_ids,omitempty"`
}

// Repository returns the record of repository name.
func (r *Record) Repository(name string) (RecordRepository, bool) {
	for _, x := range r.Repositories {
		if x.Name == name {
			return x, true
		}
	}
	return RecordRepository{}, false
}

// keyIDs is "name=id …" for the audit record.
func (r *Record) keyIDs() string {
	var b []string
	for _, x := range r.Repositories {
		b = append(b, x.Name+"="+x.KeyID)
	}
	return strings.Join(b, " ")
}

func (m *Maker) put(ctx context.Context, rec *Record) error {
	if m.d.KV == nil {
		return nil
	}
	body, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return m.d.KV.Put(context.WithoutCancel(ctx), RecordKey, body)
}

// LastKit reads the last kit's Record; the error wraps ErrNoKit when none
// has been made.
func LastKit(ctx context.Context, kv catalog.KV) (*Record, error) {
	raw, err := kv.Get(ctx, RecordKey)
	if errors.Is(err, catalog.ErrNotFound) {
		return nil, ErrNoKit
	}
	if err != nil {
		return nil, fmt.Errorf("recovery kit record: %w", err)
	}
	var rec Record
	if err := json.Unmarshal(raw, &rec); err != nil {
		return nil, fmt.Errorf("recovery kit record: %w", err)
	}
	return &rec, nil
}
