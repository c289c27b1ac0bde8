package erase

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"

	"steward/internal/catalog"
)

// HandoverRecord is what the catalog keeps of the last hand-over export:
// ids, counts and hashes (no file names, no export path).
type HandoverRecord struct {
	ID       string `json:"id"`
	Operator string `json:"operator"`
	// Time is when the export finished (RFC 3339, contract zone).
	Time           string          `json:"time"`
	ManifestSHA256 string          `json:"manifest_sha256"`
	ReceiptSHA256  string          `json:"receipt_sha256,omitempty"`
	Files          int64           `json:"files"`
	Bytes          int64           `json:"bytes"`
	Sources        []HandoverStamp `json:"sources"`
}

// HandoverStamp is one exported source in the record: which snapshot was
// handed over.
type HandoverStamp struct {
	Job        string `json:"job"`
	Source     string `json:"source"`
	Kind       string `json:"kind"`
	SnapshotID string `json:"snapshot_id"`
	// SnapshotTime is RFC 3339 in the contract zone.
	SnapshotTime string `json:"snapshot_time"`
}

// String is the line an erase plan shows.
func (r *HandoverRecord) String() string {
	return fmt.Sprintf("last hand-over export: %s (%s), manifest SHA-256 %s", r.Time, r.ID, r.ManifestSHA256)
}

// record stores res as the last hand-over export (under HandoverKey,
// which the erase plan reads).
func (x *Exporter) record(ctx context.Context, res *HandoverResult) error {
	rec := HandoverRecord{ID: res.ID, Operator: res.Operator, Time: x.clock.Format(res.Finished), ManifestSHA256: res.ManifestSHA256,
		ReceiptSHA256: res.ReceiptSHA256, Files: res.Files, Bytes: res.Bytes}
	for _, s := range res.Sources {
		rec.Sources = append(rec.Sources, HandoverStamp{Job: s.Job, Source: s.Source, Kind: s.Kind, SnapshotID: s.SnapshotID,
			SnapshotTime: x.clock.Format(s.SnapshotTime)})
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	if err := x.store.Put(ctx, HandoverKey, b); err != nil {
		return fmt.Errorf("record the hand-over export in the catalog: %w", err)
	}
	return nil
}

// LastHandover returns the last hand-over export recorded in the catalog,
// or an error wrapping ErrNoHandover when there has been none.
func LastHandover(ctx context.Context, kv catalog.KV) (*HandoverRecord, error) {
	b, err := kv.Get(ctx, HandoverKey)
	if errors.Is(err, catalog.ErrNotFound) {
		return nil, fmt.Errorf("%w: run `steward handover export --to DIR` before the erase plan", ErrNoHandover)
	}
	if err != nil {
		return nil, err
	}
	var rec HandoverRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, fmt.Errorf("catalog key %s: %w", HandoverKey, err)
	}
	return &rec, nil
}

// copyReceipt copies the signed receipt into the export directory (0600),
// so that the successor receives it with the data.
func copyReceipt(src, dir string) (string, error) {
	in, err := os.Open(src)
	if err != nil {
		return "", err
	}
	defer in.Close()
	dst := filepath.Join(dir, filepath.Base(src))
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return "", err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		os.Remove(dst)
		return "", err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return "", err
	}
	return dst, out.Close()
}
