package recovery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"steward/internal/audit"
	"steward/internal/catalog"
)

// PendingKey is the catalog key of the escrow keys added for a kit that
// is not written yet. Their passwords exist only in the memory of the
// Steward making the kit: if it is killed before the file is written,
// nobody holds them, and the next Make removes the keys.
const PendingKey = "recovery.kit.pending"

// pendingKey is one escrow key added for a kit not written yet.
type pendingKey struct {
	Repository string `json:"repository"`
	KeyID      string `json:"key_id"`
}

func (m *Maker) pending(ctx context.Context) ([]pendingKey, error) {
	if m.d.KV == nil {
		return nil, nil
	}
	raw, err := m.d.KV.Get(ctx, PendingKey)
	if errors.Is(err, catalog.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("pending escrow keys: %w", err)
	}
	var ks []pendingKey
	if err := json.Unmarshal(raw, &ks); err != nil {
		return nil, fmt.Errorf("pending escrow keys: %w", err)
	}
	return ks, nil
}

func (m *Maker) putPending(ctx context.Context, ks []pendingKey) error {
	if m.d.KV == nil {
		return nil
	}
	if ks == nil {
		ks = []pendingKey{}
	}
	body, err := json.Marshal(ks)
	if err != nil {
		return err
	}
	if err := m.d.KV.Put(context.WithoutCancel(ctx), PendingKey, body); err != nil {
		return fmt.Errorf("pending escrow keys: %w", err)
	}
	return nil
}

// dropPending removes the escrow keys a killed Make added (audited) and
// forgets them; a key that cannot be removed stays pending and stops
// this Make.
func (m *Maker) dropPending(ctx context.Context) error {
	ks, err := m.pending(ctx)
	if err != nil || len(ks) == 0 {
		return err
	}
	var left []pendingKey
	var errs []error
	for _, k := range ks {
		r, err := m.d.Repos.Open(ctx, k.Repository)
		if err == nil {
			err = m.d.Repos.Restic().RemoveKey(ctx, r.Restic, k.KeyID)
		}
		result, details := audit.ResultOK, map[string]string{"key_id": k.KeyID, "reason": "added for a kit that was never written (Steward stopped before writing it)"}
		if err != nil {
			result, details["error"] = audit.ResultFailed, err.Error()
			left = append(left, k)
			errs = append(errs, fmt.Errorf("repository %q: remove escrow key %s of a kit that was never written: %w", k.Repository, k.KeyID, err))
		}
		m.audit.Record(ctx, "recovery.escrow_key.remove", "repository:"+k.Repository, result, details)
	}
	if err := m.putPending(ctx, left); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
