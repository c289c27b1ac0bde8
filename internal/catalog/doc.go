// Package catalog is Steward's state store: runs, snapshots, manifests,
// drills, erase plans and their journal, operator accounts, and the audit
// log's records. The Store interface uses plain Go types only, so that a
// PostgreSQL implementation (for redundant daemons) can sit beside the
// SQLite one (the default, pure Go through modernc.org/sqlite, WAL mode).
package catalog
