// Package manifest holds Steward's backup-time manifests: what a snapshot
// holds (files with their hashes, tables with row counts and checksums,
// objects with their SHA-256), recorded when the backup is made, so that a
// drill checks a restore independently of restic. Backups write them (the
// catalog and a companion snapshot in the repository), drills read them
// from either place, and erase purges them (they name files, tables and
// objects: they are contract data).
package manifest

import (
	"crypto/sha256"
	"encoding/hex"
	"hash"

	"github.com/zeebo/blake3"

	"steward/internal/pgsql"
)

// Manifest formats. v2 hashes a path source's files with BLAKE3; v1
// (written before it) with SHA-256. Both are read; v2 is written. S3
// objects are SHA-256 in both.
const (
	Format   = "steward.manifest/v2"
	FormatV1 = "steward.manifest/v1"
)

// Known reports whether this version reads format f.
func Known(f string) bool { return f == Format || f == FormatV1 }

// Manifest is what a snapshot holds, recorded at backup time.
type Manifest struct {
	Format string `json:"format"`
	Kind   string `json:"kind"` // path, postgres, s3
	Job    string `json:"job"`
	Source string `json:"source"`
	RunID  string `json:"run_id"`
	// SnapshotID is the data snapshot the manifest describes (its id in
	// the primary repository; a replica's copy names it as its original).
	SnapshotID string `json:"snapshot_id"`
	Created    string `json:"created"`
	// Root is the backed-up directory (path sources).
	Root  string      `json:"root,omitempty"`
	Files []FileEntry `json:"files,omitempty"`
	// Database, ServerMajor, PgSnapshot, DumpFormat (postgres sources).
	Database    string `json:"database,omitempty"`
	ServerMajor int    `json:"server_major,omitempty"`
	PgSnapshot  string `json:"pg_snapshot,omitempty"`
	DumpFormat  string `json:"dump_format,omitempty"`
	// DumpEncoding is the client encoding the dump's COPY data is in (its
	// ENCODING entry): a drill reads the restored tables in it to get the
	// same bytes. Set with copyxxh3/v1 checksums, absent before.
	DumpEncoding string `json:"dump_encoding,omitempty"`
	// Tables have a checksum whose prefix names its method:
	// pgsql.CopyMethod, or pgsql.ChecksumMethod in manifests made before.
	Tables []pgsql.Table `json:"tables,omitempty"`
	// Bucket and Objects (s3 sources).
	Bucket  string        `json:"bucket,omitempty"`
	Objects []ObjectEntry `json:"objects,omitempty"`
	// StdinFilename is the single file a postgres or s3 snapshot holds.
	StdinFilename string `json:"stdin_filename,omitempty"`
	// Count is the number of files and symlinks (a path source), table
	// rows (a database) or objects (a bucket); Bytes totals their sizes
	// (for a database, the dump's).
	Count int64 `json:"count"`
	Bytes int64 `json:"bytes"`
}

// FileHash names the content hash of the manifest's files ("BLAKE3", or
// "SHA-256" in a v1 manifest) and returns a constructor for it, so that a
// drill hashes restored files the way they were hashed at backup time.
func (m *Manifest) FileHash() (string, func() hash.Hash) {
	if m.Format == FormatV1 {
		return "SHA-256", sha256.New
	}
	return "BLAKE3", NewBLAKE3
}

// NewBLAKE3 is BLAKE3 with a 256-bit output. Files are hashed with it
// rather than SHA-256 because it is several times cheaper per byte where
// the CPU has no SHA extensions (2x even where it has them, 3.9 against
// 1.9 GB/s on this project's test machine), and the manifest pass reads
// every byte of a first backup while restic does too.
func NewBLAKE3() hash.Hash { return blake3.New() }

// FileEntry is one regular file or symlink under a path source.
type FileEntry struct {
	// Path is relative to the source root, slash-separated.
	Path string `json:"path"`
	Size int64  `json:"size"`
	Mode uint32 `json:"mode"`
	// BLAKE3 (v2) or SHA256 (v1 manifests only) is the content hash of a
	// regular file, hex.
	BLAKE3 string `json:"blake3,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
	Link   string `json:"link,omitempty"`
	// MTime, CTime (ns since the epoch) and Inode decide whether the
	// previous manifest's hash can be reused.
	MTime int64  `json:"mtime_ns"`
	CTime int64  `json:"ctime_ns"`
	Inode uint64 `json:"inode"`
}

// Sum is the entry's content hash, whichever the manifest's format uses.
func (f FileEntry) Sum() string {
	if f.BLAKE3 != "" {
		return f.BLAKE3
	}
	return f.SHA256
}

// ObjectEntry is one object of an S3 source: its key, size and the
// SHA-256 of the bytes streamed into the archive.
type ObjectEntry struct {
	Key    string `json:"key"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// SHA256 is the SHA-256 of a manifest body, as run records keep it.
func SHA256(body []byte) string {
	h := sha256.Sum256(body)
	return hex.EncodeToString(h[:])
}
