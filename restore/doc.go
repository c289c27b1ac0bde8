// Package restore brings a backed-up source back from a restic snapshot:
// a directory tree into a directory (restic restore), a PostgreSQL dump
// into a database (restic dump → pg_restore of the server's major
// version), a bucket's tar stream into a bucket or a directory (restic
// dump → objects or files).
//
// The safe path is the default: a non-empty target is refused unless
// Force is set, and the live source itself is refused unless IntoSource
// is set together with a typed confirmation (the source's name). Every
// restore is audited as an access to contract data (req 5, 14), with ids
// and hashes only. Repositories are opened through internal/repo, buckets
// and databases written through internal/objstore and internal/pgsql.
package restore
