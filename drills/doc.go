// Package drills runs restore drills (req 22): it restores a snapshot
// into scratch (a directory under the state dir, a steward_drill_<id>
// database on drills.scratch.postgres, a scratch bucket or directory for
// bucket sources), verifies the restored data against the backup-time
// manifest independently of restic, reads a rotating subset of the
// repository (restic check --read-data-subset k/N), measures RTO and RPO
// against their targets, removes the scratch copy and checks by listing
// that it is gone, and records every step in the catalog.
//
// Scratch names are recorded before anything is created, and a running
// drill holds a file lock, so a drill that crashed is recognised (its
// record says running, nobody holds its lock) and its leftovers are
// removed by the next drill or by Cleanup, by their recorded names.
//
// Restores go through the restore package; repositories through
// internal/repo, manifests through internal/manifest (from the catalog, or
// from the repository itself when the catalog has none), scratch buckets
// and databases through internal/objstore and internal/pgsql.
package drills
