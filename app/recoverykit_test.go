package app

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"steward/recovery"
)

// TestRecoveryWarnings: status warns about an initialised repository with
// no escrow key in the last kit (no kit at all, a kit made before the
// repository was added, or one made before it was initialised again), and
// says nothing of repositories not initialised yet.
func TestRecoveryWarnings(t *testing.T) {
	dir := t.TempDir()
	sealed := func(name string) string { return filepath.Join(dir, name+".sealed") }
	kitTime := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	for name, mtime := range map[string]time.Time{"old": kitTime.Add(-time.Hour), "added": kitTime.Add(-time.Hour), "reinit": kitTime.Add(time.Hour)} {
		os.WriteFile(sealed(name), []byte("x"), 0o600)
		os.Chtimes(sealed(name), mtime, mtime)
	}
	kit := &recovery.Record{Created: kitTime.Format(time.RFC3339), Repositories: []recovery.RecordRepository{{Name: "old", KeyID: "k1"}, {Name: "reinit", KeyID: "k2"}}}
	repos := []string{"old", "added", "reinit", "never-initialised"}
	tests := []struct {
		name   string
		kit    *recovery.Record
		kitErr error
		want   []string
	}{
		{"no kit", nil, recovery.ErrNoKit, []string{"old has no escrow key", "added has no escrow key", "reinit has no escrow key"}},
		{"kit", kit, nil, []string{"added has no escrow key (the recovery kit of", "reinit was initialised after the recovery kit"}},
		{"unreadable record", nil, errors.New("recovery kit record: damaged"), []string{"damaged"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ws := recoveryWarnings(tt.kit, tt.kitErr, repos, sealed)
			if len(ws) != len(tt.want) {
				t.Fatalf("warnings %q, want %d", ws, len(tt.want))
			}
			for i, w := range tt.want {
				if !strings.Contains(ws[i], w) {
					t.Errorf("warning %d %q lacks %q", i, ws[i], w)
				}
			}
		})
	}
}
