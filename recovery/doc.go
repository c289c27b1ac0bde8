// Package recovery brings Steward back when its host is lost.
//
// # Escrow keys and the recovery kit
//
// Every repository, primary and replica, carries an escrow restic key
// whose password exists only in a recovery kit encrypted to the age
// recipients of the config (recovery.recipients). [Maker.Make] adds a
// fresh escrow key (random 256-bit password, restic key add, labelled
// EscrowUser@<contract id>) to every configured repository, writes the kit
// (a [Kit], JSON, age-encrypted and armored) to a new file, and records in
// the catalog which escrow key each repository has ([Record], under
// RecordKey): never a password. Because no password is kept, every kit
// has new escrow keys; older kits keep working until a kit is made with
// Rotate, which removes every other escrow key from the repositories once
// the new kit is written. Where the host itself opens a repository with an
// escrow key (its password came from a kit through Rebuild), Rotate first
// gives the host a key of its own (repo.Opener.ReplacePassword), so that
// the used kit's key can go too.
//
// The kit holds, per repository, the restic location, the S3 endpoint,
// region, bucket, prefix and the access key the repository is used with
// (so a successor can reach the storage), and the escrow key's id and
// password: with it and plain restic, any repository restores without
// Steward (docs/runbook-restore.md). [Decrypt] reads a kit back.
//
// Erase deletes every key file of every repository, escrow keys
// included, so a kit kept after erasure opens nothing.
//
// # Rebuilding the catalog
//
// Rebuild fills a new state dir's catalog from the repositories themselves
// (snapshots, manifests, run links), so that `snapshots`, drills and
// backups work again (docs/runbook-restore.md).
package recovery
