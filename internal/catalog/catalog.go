package catalog

import (
	"context"
	"encoding/json"
)

// AuditRecord is one audit-log record as stored. The audit package
// computes its hashes; the catalog only keeps them in order.
type AuditRecord struct {
	Seq      int64             `json:"seq"`
	Time     string            `json:"time"`
	Actor    string            `json:"actor"`
	Action   string            `json:"action"`
	Target   string            `json:"target"`
	Result   string            `json:"result"`
	Details  map[string]string `json:"details,omitempty"`
	PrevHash string            `json:"prev_hash"`
	Hash     string            `json:"hash"`
}

// AuditStore keeps audit records in sequence.
type AuditStore interface {
	// AppendAudit calls build with the newest record (nil for an empty log)
	// inside one write transaction, stores the record build returns, then
	// calls commit (e.g. to mirror it) before the transaction commits. No
	// other writer can append between the read and the write.
	AppendAudit(ctx context.Context, build func(last *AuditRecord) (AuditRecord, error), commit func(AuditRecord) error) (AuditRecord, error)
	// ScanAudit calls fn for every record in seq order.
	ScanAudit(ctx context.Context, fn func(AuditRecord) error) error
	// LastAudit returns the newest record, or ErrNotFound.
	LastAudit(ctx context.Context) (AuditRecord, error)
}

// KV is a small key/value area for counters and markers (e.g. the next
// read-data subset of a repository's drills).
type KV interface {
	Get(ctx context.Context, key string) (json.RawMessage, error)
	Put(ctx context.Context, key string, value json.RawMessage) error
}

// Store is everything Steward keeps. Capabilities add their record kinds
// as they are built.
type Store interface {
	AuditStore
	KV
	// SchemaVersion is the newest migration applied.
	SchemaVersion(ctx context.Context) (int, error)
	Close() error
}
