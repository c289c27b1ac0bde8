package catalog_test

import (
	"context"
	"path/filepath"
	"testing"

	"steward/internal/catalog"
	"steward/internal/catalog/storetest"
)

// TestSQLiteConformance runs the Store conformance suite against a new
// SQLite catalog per subtest.
func TestSQLiteConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) catalog.Store {
		s, err := catalog.Create(context.Background(), filepath.Join(t.TempDir(), "catalog.db"))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}
