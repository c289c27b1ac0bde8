// Package pgsql connects to PostgreSQL through pgx, exports a consistent
// snapshot (repeatable read + pg_export_snapshot), computes a per-table
// manifest (row count and content checksum) inside that snapshot, and
// finds a pg_dump that can dump the server.
//
// It is also the only package that issues CREATE DATABASE, DROP DATABASE
// and DROP ROLE (admin.go), for restores, drills' scratch databases and
// erasure: CreateDatabase, DropDatabase, ListDatabases, DatabaseExists,
// DatabaseEmpty, RoleExists and DropRole. They connect to the server's own
// database (the config's database, e.g. postgres) with Connect.
//
// # Content checksum
//
// Each table's checksum is an order-independent multiset hash: for every
// row, md5 of the row's text form (`t::text`); the first and last 64 bits of
// each md5 are read as signed integers and summed exactly over the table
// (sum(bigint): a numeric result, accumulated in 128-bit integers). It is written "rowmd5sum/v1:<count>:<sum1>:<sum2>".
//
// Why this one: it is one sequential scan per table with O(1) memory on
// the server — no ORDER BY (which would sort the whole table, spilling to
// disk for big tables) and no string_agg (which would build one string as
// large as the table). Rows need no primary key. Its cost is one md5 per
// row over the row's text form (roughly the CPU of a COPY TO of the table)
// plus a sequential read, which runs on its own connection while pg_dump
// reads the same snapshot. It is an integrity check for restores, not a
// defence against someone crafting collisions. A restore into the same
// PostgreSQL major version gives the same text forms, hence the same sums.
package pgsql
