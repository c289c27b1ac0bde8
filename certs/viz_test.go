package certs

import (
	"os"
	"path/filepath"
	"testing"
)

// TestDumpForInspection writes the unsigned fixture reports into
// $CERTS_VIZ_DIR for a look by eye (pdftoppm -r 70 -png X.pdf X). It is
// skipped unless that variable is set.
func TestDumpForInspection(t *testing.T) {
	dir := os.Getenv("CERTS_VIZ_DIR")
	if dir == "" {
		t.Skip("CERTS_VIZ_DIR is not set: set it to a directory to write the unsigned reports there for a look by eye")
	}
	for _, tc := range reportCases() {
		f, err := os.Create(filepath.Join(dir, tc.name+".pdf"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tc.render(t)(f); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
