package repo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"steward/internal/catalog"
)

// Health results.
const (
	HealthOK      = "ok"
	HealthFailing = "failing"
)

// Health is the last verdict on a repository's data, from the last check
// or drill that read it. A repository whose last verdict is failing stays
// failing — in status and in every backup run — until a check or drill of
// it passes again: a copy nobody can restore from is not a copy.
type Health struct {
	Repository string `json:"repository"`
	// Result is HealthOK or HealthFailing.
	Result string `json:"result"`
	// Time is when the verdict was reached (RFC 3339, the contract's zone).
	Time string `json:"time"`
	// By is what reached it: "check" or "drill:<id>".
	By string `json:"by"`
	// Detail says what failed (or what was read).
	Detail string `json:"detail,omitempty"`
}

// Failing reports whether the repository's last verdict is failing.
func (h Health) Failing() bool { return h.Result == HealthFailing }

// String is one line for reports and status.
func (h Health) String() string {
	s := fmt.Sprintf("%s by %s at %s", h.Result, h.By, h.Time)
	if h.Detail != "" {
		s += ": " + h.Detail
	}
	return s
}

// HealthBook keeps each repository's last verdict in the catalog.
type HealthBook struct{ KV catalog.KV }

func healthKey(repository string) string { return "repository.health." + repository }

// Put records h as repository h.Repository's last verdict.
func (b HealthBook) Put(ctx context.Context, h Health) error {
	if b.KV == nil {
		return nil
	}
	body, err := json.Marshal(h)
	if err != nil {
		return err
	}
	return b.KV.Put(context.WithoutCancel(ctx), healthKey(h.Repository), body)
}

// Get returns repository's last verdict; ok is false when nothing has
// read it yet.
func (b HealthBook) Get(ctx context.Context, repository string) (h Health, ok bool, err error) {
	if b.KV == nil {
		return Health{}, false, nil
	}
	raw, err := b.KV.Get(ctx, healthKey(repository))
	if errors.Is(err, catalog.ErrNotFound) {
		return Health{}, false, nil
	}
	if err != nil {
		return Health{}, false, fmt.Errorf("repository %q: health record: %w", repository, err)
	}
	if err := json.Unmarshal(raw, &h); err != nil {
		return Health{}, false, fmt.Errorf("repository %q: health record: %w", repository, err)
	}
	return h, true, nil
}
