package state

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestEveryPathIsUnderTheStateDir(t *testing.T) {
	d := Dir("/srv/steward")
	paths := []string{d.Catalog(), d.AuditMirror(), d.Keys(), d.MasterKey(), d.SigningCertificate(), d.SigningKey(),
		d.SealedPasswords(), d.SealedPassword("tokyo"), d.Locks(), d.RepositoryLock("tokyo"), d.DrillLock("20260401-x"),
		d.Tmp(), d.ResticCache(), d.Reports(), d.LocalRepository("local"), d.Scratch(), d.AuditCheckpoints()}
	seen := map[string]bool{}
	for _, p := range paths {
		rel, err := filepath.Rel(d.Root(), p)
		if err != nil || rel == "." || strings.HasPrefix(rel, "..") {
			t.Errorf("%s is not below the state dir", p)
		}
		if seen[p] {
			t.Errorf("%s is named twice", p)
		}
		seen[p] = true
	}
	if got, want := d.SealedPassword("tokyo"), "/srv/steward/keys/repositories/tokyo.sealed"; got != want {
		t.Errorf("SealedPassword = %s, want %s", got, want)
	}
	if got, want := d.RepositoryLock("osaka"), "/srv/steward/locks/repository-osaka.lock"; got != want {
		t.Errorf("RepositoryLock = %s, want %s", got, want)
	}
}
