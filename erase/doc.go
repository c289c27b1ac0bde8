// Package erase is contract-end erasure (req 4, 12, 23, 26, 27): the
// hand-over export that gives the data to the successor before anything is
// deleted (handover*.go); the inventory and the two-person approved plan
// (plan.go, inventory.go, approve.go); the journaled erasure of every copy
// and every special account, its independent verification and the
// deletion certificate (execute.go, verify.go).
//
// # Hand-over export (req 4)
//
// Exporter.Export writes the latest snapshot of every source into a new
// directory in formats a successor loads without Steward or restic: a
// path source as a tar file, a PostgreSQL source as its pg_dump
// custom-format file and a plain SQL file (pg_restore -f), a bucket as
// one file per object under its key. Every byte is streamed from
// `restic dump`, never held in memory, and hashed while it is written.
// The directory receives handover-manifest.json (every file with its size
// and SHA-256, every source with its snapshot) and the manifest's own
// SHA-256; a signed receipt names that hash. The export is audited
// (handover.export, ids and hashes only: file and object names are
// contract data) and recorded in the catalog under HandoverKey, where
// the erase plan finds it (LastHandover reads it back).
//
// erase reaches repositories through internal/repo, databases' tools
// through internal/pgsql, and renders through certs; it never imports
// backup, restore or drills (internal/archtest holds this).
package erase
