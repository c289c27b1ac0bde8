// Package catalog is Steward's state store: runs, snapshots, manifests,
// drills, erase plans and their journal, operator accounts, and the audit
// log's records. The Store interface uses plain Go types only: SQLite is
// the default (pure Go through modernc.org/sqlite, WAL mode, one file in
// the state dir); Postgres (pgx) is the catalog daemons on several hosts
// share (req 18), with session advisory locks (Postgres.TryLock) for jobs
// and repositories. OpenConfigured opens whichever the config names, and
// CopyToPostgres moves a SQLite catalog over.
//
// # Contract
//
// Store groups AuditStore, KV, RunStore, SnapshotStore, ManifestStore and
// DrillStore; package storetest checks an implementation against it.
// Conventions shared by all of them:
//
//   - A lookup of a row that does not exist returns an error matching
//     ErrNotFound (errors.Is); a list that matches nothing returns an empty
//     (possibly nil) slice and no error.
//   - Put* methods upsert: the row's key identifies it, the first Put
//     inserts it and later Puts update it in place (each method says which
//     fields a later Put may change). Putting the same row twice is
//     harmless.
//   - Strings, including the time fields and the JSON in Record fields and
//     KV values, are stored and returned verbatim (byte for byte). Time
//     fields are RFC 3339 text as the caller formats it (clock.Layout:
//     milliseconds and a numeric offset); the catalog does not reformat
//     them. Orders "by Started" or "by Time" compare that text byte-wise,
//     which is chronological while every value has the same layout and
//     offset (a PostgreSQL implementation needs COLLATE "C" to match).
//     Only RunsStartedBetween compares instants. Rows tied on the ordering
//     text come back in an unspecified order unless the method says
//     otherwise.
//   - Every method is safe for concurrent use, also by several processes
//     sharing the catalog.
package catalog
