// Package state names every path under Steward's state dir, once. Other
// packages ask it where a thing lives instead of joining paths themselves,
// so that the layout is read in one place (and erase can list what it
// must destroy).
//
//	<state_dir>/                  0700
//	  catalog.db                  the catalog (SQLite)
//	  audit.jsonl                 the audit log's mirror
//	  keys/master.key             the master key (0600)
//	  keys/signing.crt, .key      the report signing certificate and key
//	  keys/api.token              the daemon API's bearer token (0600)
//	  keys/repositories/N.sealed  repository N's sealed restic password
//	  locks/repository-N.lock     the file lock of repository N
//	  locks/drill-ID.lock         the file lock of a running drill
//	  tmp/                        restic password files, relay repositories
//	  cache/restic/               restic's cache
//	  reports/                    signed PDF reports
//	  repositories/N/             a local repository's default place
//	  scratch/                    drills' default scratch dir
package state

import "path/filepath"

// Dir is a state dir.
type Dir string

// Root is the state dir itself.
func (d Dir) Root() string { return string(d) }

func (d Dir) join(elem ...string) string {
	return filepath.Join(append([]string{string(d)}, elem...)...)
}

// Catalog is the SQLite catalog.
func (d Dir) Catalog() string { return d.join("catalog.db") }

// AuditMirror is the audit log's JSON-lines mirror.
func (d Dir) AuditMirror() string { return d.join("audit.jsonl") }

// AuditCheckpoints is the folder of signed checkpoints of the audit log's
// head, kept outside the catalog so that a log rewritten in the catalog
// and the mirror alike still disagrees with them.
func (d Dir) AuditCheckpoints() string { return d.join("audit-checkpoints") }

// Keys is the folder of the master key, the signing key and the sealed
// repository passwords.
func (d Dir) Keys() string { return d.join("keys") }

// MasterKey is the key that seals repository passwords and secrets.
func (d Dir) MasterKey() string { return d.join("keys", "master.key") }

// MasterKeyDestroyed is the note erase leaves when it destroyed the master
// key.
func (d Dir) MasterKeyDestroyed() string { return d.join("keys", "master.key.destroyed") }

// EraseObjects is the list of object versions an erase plan deleted (one
// JSON line each: target, key SHA-256, version, size; never a key),
// written as they are deleted and read into the evidence bundle.
func (d Dir) EraseObjects(planID string) string { return d.join("erase", planID+"-objects.jsonl") }

// SigningCertificate and SigningKey are the default report signing
// certificate and its key.
func (d Dir) SigningCertificate() string { return d.join("keys", "signing.crt") }

// SigningKey is the default report signing key.
func (d Dir) SigningKey() string { return d.join("keys", "signing.key") }

// APIToken is the bearer token the daemon's JSON API asks for (0600).
func (d Dir) APIToken() string { return d.join("keys", "api.token") }

// SealedPasswords is the folder of the sealed repository passwords.
func (d Dir) SealedPasswords() string { return d.join("keys", "repositories") }

// SealedPassword is repository's sealed restic password; erase destroys
// it (crypto-erase).
func (d Dir) SealedPassword(repository string) string {
	return filepath.Join(d.SealedPasswords(), repository+".sealed")
}

// Locks is the folder of file locks.
func (d Dir) Locks() string { return d.join("locks") }

// RepositoryLock keeps two Steward runs off one repository.
func (d Dir) RepositoryLock(repository string) string {
	return filepath.Join(d.Locks(), "repository-"+repository+".lock")
}

// DrillLock is held by a running drill.
func (d Dir) DrillLock(id string) string { return filepath.Join(d.Locks(), "drill-"+id+".lock") }

// Tmp holds restic password files and relay repositories.
func (d Dir) Tmp() string { return d.join("tmp") }

// ResticCache is restic's cache (RESTIC_CACHE_DIR).
func (d Dir) ResticCache() string { return d.join("cache", "restic") }

// Reports is where signed reports are written.
func (d Dir) Reports() string { return d.join("reports") }

// LocalRepository is where a local repository lives when its path is not
// configured.
func (d Dir) LocalRepository(name string) string { return d.join("repositories", name) }

// Scratch is drills' default scratch dir.
func (d Dir) Scratch() string { return d.join("scratch") }

// InitFolders are the folders `steward init` makes (0700), in order.
func (d Dir) InitFolders() []string { return []string{d.Keys(), d.Reports(), d.Tmp()} }

// Names of drill scratch copies: drills makes them, erase finds what is
// left of them.
const (
	// ScratchDirPrefix starts every scratch directory in drills.scratch.dir.
	ScratchDirPrefix = "drill-"
	// ScratchDatabasePrefix starts every scratch database.
	ScratchDatabasePrefix = "steward_drill_"
)
