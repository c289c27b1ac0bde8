package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLostCatalogIsAnError: a state dir whose catalog is empty (0 bytes)
// or missing beside its master key is an error that says what happened and
// how to recover, for every command that opens it; nothing is recreated.
func TestLostCatalogIsAnError(t *testing.T) {
	dir := initDemo(t)
	cat := filepath.Join(dir, "steward-state", "catalog.db")
	if err := os.Truncate(cat, 0); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"audit", "verify"}, {"drill", "list"}, {"snapshots"}} {
		code, _, errOut := stewardRun(t, dir, "", args...)
		if code != exitFailure || !strings.Contains(errOut, "empty (0 bytes)") || !strings.Contains(errOut, "restore catalog.db from a backup") {
			t.Errorf("%v on an empty catalog: exit %d\n%s", args, code, errOut)
		}
	}
	if st, _ := os.Stat(cat); st.Size() != 0 {
		t.Fatalf("the empty catalog was rewritten (%d bytes)", st.Size())
	}
	os.Remove(cat)
	code, _, errOut := stewardRun(t, dir, "", "audit", "verify")
	if code != exitFailure || !strings.Contains(errOut, "master key but no catalog") {
		t.Fatalf("missing catalog beside a master key: exit %d\n%s", code, errOut)
	}
	if _, err := os.Stat(cat); err == nil {
		t.Fatal("a missing catalog was recreated")
	}
}
