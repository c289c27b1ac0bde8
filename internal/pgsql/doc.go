// Package pgsql connects to PostgreSQL through pgx, exports a consistent
// snapshot (repeatable read + pg_export_snapshot), runs pg_dump on it while
// reading the archive as it streams (Dump, ReadArchive), computes the same
// per-table manifest (row count and content checksum) on a database with
// COPY (CopyChecksums), and finds a pg_dump that can dump the server.
//
// It is also the only package that issues CREATE DATABASE, DROP DATABASE
// and DROP ROLE (admin.go), for restores, drills' scratch databases and
// erasure: CreateDatabase, DropDatabase, ListDatabases, DatabaseExists,
// DatabaseEmpty, RoleExists, and RevokeRole (DropRole without its report),
// which revokes a special account (req 27): no new logins, its sessions
// ended, what it owns in every database handed to the admin login, its
// privileges dropped, then the role. They connect to the server's own
// database (the config's database, e.g. postgres) with Connect.
//
// # Content checksum: copyxxh3/v1
//
// Each table's checksum is an order-independent multiset hash over the
// table's COPY text, the lines pg_dump stores in a custom-format archive
// made with --compress=0: for every row, XXH3-128 (seed 0) of its COPY
// line (without the newline); the high and low 64 bits of each hash are
// read as signed integers and summed exactly over the table (128-bit
// accumulation, never wrapping). It is written
// "copyxxh3/v1:<count>:<sum1>:<sum2>".
//
// A backup computes it from the archive itself, as pg_dump writes it and
// restic reads it (ReadArchive parses the header, the table of contents
// and the data blocks; each TABLE DATA block's chunks are hashed line by
// line, split lines incrementally): one pass over the data, no second read
// of the database, no temporary file, memory bounded by the read buffer.
// It describes exactly the bytes stored.
//
// A drill computes it from the restored database, independently of restic
// and of the archive: `COPY schema.table (columns) TO STDOUT` with the
// columns pg_dump copies, in pg_dump's session settings (DateStyle ISO,
// IntervalStyle postgres, extra_float_digits 3, an empty search_path;
// DumpSession pins TimeZone UTC and bytea_output hex for both) and in the
// archive's client encoding, so that the text is byte for byte what
// pg_dump wrote. Settings left to the servers' defaults can still spell a
// type differently on the two sides — lc_monetary (the money type) is
// one — and would show as a checksum mismatch, never as a false pass.
//
// Why XXH3-128 and not md5 (as rowmd5sum/v1) or SHA-256: the hash runs in
// Steward on every row of every backup, beside pg_dump, the server and
// restic on the same cores, and rows are short, so its per-call cost is
// what counts. Over the 1.12 million COPY lines of a 150 MB database
// (BenchmarkRowHash, one core of the test machine) XXH3-128 takes 15-25
// ms, SHA-256 0.25 s and md5 0.4-0.5 s. A cryptographic hash would buy
// nothing here: a sum of per-row hashes is not collision-resistant
// whatever the hash (rows can be chosen so that their hashes add up to a
// target, a generalized birthday problem), so the checksum is an integrity
// check for restores — it catches changed, lost or added rows, with
// 128-bit hashes — not a defence against someone crafting collisions.
// github.com/zeebo/xxh3 is already in the binary (minio-go uses it); the
// test pins its output to the reference implementation's (xxhsum).
//
// # Content checksum: rowmd5sum/v1 (manifests made before copyxxh3/v1)
//
// Per row, md5 of the row's text form (`t::text`), its halves summed
// exactly, computed by a query (Manifest) inside the exported snapshot:
// "rowmd5sum/v1:<count>:<sum1>:<sum2>". Drills still verify manifests
// that carry it, with the same query on the restored database.
package pgsql
