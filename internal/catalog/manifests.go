package catalog

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/zstd"
)

// Manifest bodies are stored once per SHA-256 (manifest_bodies), as a
// zstd stream cut into chunks of chunkSize compressed bytes
// (manifest_chunks): a body of a million files (~250 MB of JSON) goes in
// and out through a chunk and the codec's window, never whole. Bodies
// stored before (migration 2) are one "identity" chunk each.
const (
	chunkSize     = 1 << 20
	codecZstd     = "zstd"
	codecIdentity = "identity"
	// zstdWindow bounds the codec's memory both ways (the decoder
	// allocates the window the stream declares).
	zstdWindow = 1 << 20
)

// ErrManifestSHA256 means a manifest body does not have the SHA-256 it
// was stored or asked for under.
var ErrManifestSHA256 = errors.New("manifest body does not match its SHA-256")

// PutManifest records that snapshot m.SnapshotID has the manifest body
// m.SHA256. If that body is stored already (the previous run of an
// unchanged source stored it), body is not read and may be nil; otherwise
// body is read to its end and stored, and must hash to m.SHA256 (else
// ErrManifestSHA256 and nothing is stored). A body no snapshot names any
// more is deleted.
func (s *SQLite) PutManifest(ctx context.Context, m ManifestRow, body io.Reader) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("catalog: save manifest: %w", s.writeErr(err))
	}
	defer tx.Rollback()
	var have int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM manifest_bodies WHERE sha256 = ?`, m.SHA256).Scan(&have); err != nil {
		return fmt.Errorf("catalog: save manifest: %w", s.writeErr(err))
	}
	if have == 0 {
		if body == nil {
			return fmt.Errorf("catalog: save manifest of snapshot %s: body %s is not stored and none was given", m.SnapshotID, m.SHA256)
		}
		if err := s.putBody(ctx, tx, m.SHA256, body); err != nil {
			return err
		}
	}
	var old string
	err = tx.QueryRowContext(ctx, `SELECT sha256 FROM manifests WHERE snapshot_id = ?`, m.SnapshotID).Scan(&old)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("catalog: save manifest: %w", s.writeErr(err))
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO manifests (snapshot_id, source, kind, sha256) VALUES (?, ?, ?, ?)
		ON CONFLICT (snapshot_id) DO UPDATE SET sha256 = excluded.sha256`,
		m.SnapshotID, m.Source, m.Kind, m.SHA256); err != nil {
		return fmt.Errorf("catalog: save manifest: %w", s.writeErr(err))
	}
	if old != "" && old != m.SHA256 {
		if err := s.dropUnnamedBody(ctx, tx, old); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("catalog: save manifest: %w", s.writeErr(err))
	}
	return nil
}

// putBody streams body into manifest_chunks through zstd and checks its
// SHA-256 against sum.
func (s *SQLite) putBody(ctx context.Context, tx *sql.Tx, sum string, body io.Reader) error {
	// The body's row first (its chunks refer to it), its size at the end.
	if _, err := tx.ExecContext(ctx, `INSERT INTO manifest_bodies (sha256, codec, size) VALUES (?, ?, 0)`, sum, codecZstd); err != nil {
		return fmt.Errorf("catalog: save manifest: %w", s.writeErr(err))
	}
	cw := &chunkWriter{ctx: ctx, tx: tx, sum: sum, buf: make([]byte, 0, chunkSize)}
	enc, err := zstd.NewWriter(cw, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(zstdWindow))
	if err != nil {
		return fmt.Errorf("catalog: save manifest: %w", s.writeErr(err))
	}
	h := sha256.New()
	n, err := io.Copy(enc, io.TeeReader(body, h))
	if cerr := enc.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = cw.flush()
	}
	if err != nil {
		return fmt.Errorf("catalog: save manifest body: %w", s.writeErr(err))
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != sum {
		return fmt.Errorf("catalog: save manifest: %w (read %s, expected %s)", ErrManifestSHA256, got, sum)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE manifest_bodies SET size = ? WHERE sha256 = ?`, n, sum); err != nil {
		return fmt.Errorf("catalog: save manifest: %w", s.writeErr(err))
	}
	return nil
}

// chunkWriter cuts what is written into rows of chunkSize bytes.
type chunkWriter struct {
	ctx context.Context
	tx  *sql.Tx
	sum string
	seq int
	buf []byte
}

func (w *chunkWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		k := min(len(p), chunkSize-len(w.buf))
		w.buf = append(w.buf, p[:k]...)
		p = p[k:]
		if len(w.buf) == chunkSize {
			if err := w.flush(); err != nil {
				return 0, err
			}
		}
	}
	return n, nil
}

func (w *chunkWriter) flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	if _, err := w.tx.ExecContext(w.ctx, `INSERT INTO manifest_chunks (sha256, seq, data) VALUES (?, ?, ?)`, w.sum, w.seq, w.buf); err != nil {
		return err
	}
	w.seq++
	w.buf = w.buf[:0]
	return nil
}

// ManifestBody streams the manifest body stored under sum, checking as it
// is read that it hashes to sum (a mismatch is ErrManifestSHA256 at the
// end of the body), or returns ErrNotFound.
func (s *SQLite) ManifestBody(ctx context.Context, sum string) (io.ReadCloser, error) {
	var codec string
	var size int64
	err := s.db.QueryRowContext(ctx, `SELECT codec, size FROM manifest_bodies WHERE sha256 = ?`, sum).Scan(&codec, &size)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("catalog: read manifest: %w", err)
	}
	return openBody(sum, codec, size, func(seq int) ([]byte, error) {
		var data []byte
		err := s.db.QueryRowContext(ctx, `SELECT data FROM manifest_chunks WHERE sha256 = ? AND seq = ?`, sum, seq).Scan(&data)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, io.EOF
		}
		return data, err
	})
}

// openBody streams the body sum (codec, size bytes) whose chunks chunk
// reads in order (io.EOF after the last), checking its size and SHA-256 at
// its end. Both stores read bodies through it.
func openBody(sum, codec string, size int64, chunk func(seq int) ([]byte, error)) (io.ReadCloser, error) {
	chunks := &chunkReader{chunk: chunk}
	b := &bodyReader{sum: sum, size: size, h: sha256.New()}
	switch codec {
	case codecIdentity:
		b.r = chunks
	case codecZstd:
		dec, err := zstd.NewReader(chunks, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true), zstd.WithDecoderMaxWindow(zstdWindow))
		if err != nil {
			return nil, fmt.Errorf("catalog: read manifest: %w", err)
		}
		b.r, b.close = dec, dec.Close
	default:
		return nil, fmt.Errorf("catalog: manifest %s has codec %q, which this version does not read", sum, codec)
	}
	return b, nil
}

// chunkReader reads a body's chunks in order, one query each.
type chunkReader struct {
	chunk func(seq int) ([]byte, error)
	seq   int
	buf   []byte
	eof   bool
}

func (r *chunkReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		if r.eof {
			return 0, io.EOF
		}
		data, err := r.chunk(r.seq)
		if err == io.EOF {
			r.eof = true
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("catalog: read manifest chunk %d: %w", r.seq, err)
		}
		r.buf = data
		r.seq++
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

// bodyReader checks the size and SHA-256 of what it reads at its end.
type bodyReader struct {
	r     io.Reader
	close func()
	sum   string
	size  int64
	n     int64
	h     interface {
		io.Writer
		Sum([]byte) []byte
	}
}

func (b *bodyReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.h.Write(p[:n])
	b.n += int64(n)
	if err == io.EOF {
		if got := hex.EncodeToString(b.h.Sum(nil)); got != b.sum || b.n != b.size {
			return n, fmt.Errorf("catalog: manifest %s: %w: read %d bytes hashing to %s, stored %d bytes", b.sum, ErrManifestSHA256, b.n, got, b.size)
		}
	}
	return n, err
}

func (b *bodyReader) Close() error {
	if b.close != nil {
		b.close()
	}
	return nil
}

// DeleteManifest removes a snapshot's manifest and leaves its snapshot
// row alone (the body goes when no snapshot names it). Deleting a missing
// manifest is not an error.
func (s *SQLite) DeleteManifest(ctx context.Context, snapshotID string) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("catalog: delete manifest: %w", s.writeErr(err))
	}
	defer tx.Rollback()
	if err := s.deleteManifest(ctx, tx, snapshotID); err != nil {
		return err
	}
	return tx.Commit()
}

func (s *SQLite) deleteManifest(ctx context.Context, tx *sql.Tx, snapshotID string) error {
	var sum string
	err := tx.QueryRowContext(ctx, `DELETE FROM manifests WHERE snapshot_id = ? RETURNING sha256`, snapshotID).Scan(&sum)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("catalog: delete manifest: %w", s.writeErr(err))
	}
	return s.dropUnnamedBody(ctx, tx, sum)
}

// dropUnnamedBody deletes body sum (its chunks cascade) if no snapshot
// names it.
func (s *SQLite) dropUnnamedBody(ctx context.Context, tx *sql.Tx, sum string) error {
	_, err := tx.ExecContext(ctx, `DELETE FROM manifest_bodies WHERE sha256 = ? AND NOT EXISTS (SELECT 1 FROM manifests WHERE sha256 = ?)`, sum, sum)
	if err != nil {
		return fmt.Errorf("catalog: delete manifest body: %w", s.writeErr(err))
	}
	return nil
}

// Manifest returns a snapshot's manifest row, or ErrNotFound.
func (s *SQLite) Manifest(ctx context.Context, snapshotID string) (ManifestRow, error) {
	return s.manifest(ctx, `SELECT snapshot_id, source, kind, sha256 FROM manifests WHERE snapshot_id = ?`, snapshotID)
}

// LatestManifest returns the manifest row of source's newest snapshot in
// repository, or ErrNotFound.
func (s *SQLite) LatestManifest(ctx context.Context, repository, source string) (ManifestRow, error) {
	return s.manifest(ctx, `SELECT m.snapshot_id, m.source, m.kind, m.sha256 FROM manifests m
		JOIN snapshots s ON s.snapshot_id = m.snapshot_id
		WHERE s.repository = ? AND m.source = ? ORDER BY s.time DESC LIMIT 1`, repository, source)
}

func (s *SQLite) manifest(ctx context.Context, q string, args ...any) (ManifestRow, error) {
	var m ManifestRow
	err := s.db.QueryRowContext(ctx, q, args...).Scan(&m.SnapshotID, &m.Source, &m.Kind, &m.SHA256)
	if errors.Is(err, sql.ErrNoRows) {
		return m, ErrNotFound
	}
	if err != nil {
		return m, fmt.Errorf("catalog: read manifest: %w", err)
	}
	return m, nil
}

// CountManifests counts the manifest rows (each names a snapshot's files,
// tables or objects).
func (s *SQLite) CountManifests(ctx context.Context) (int64, error) {
	var n int64
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM manifests`).Scan(&n); err != nil {
		return 0, fmt.Errorf("catalog: count manifests: %w", err)
	}
	return n, nil
}

// PurgeManifests deletes every manifest and every body (contract-end
// erasure) and returns how many manifests there were.
func (s *SQLite) PurgeManifests(ctx context.Context) (int64, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("catalog: purge manifests: %w", s.writeErr(err))
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `DELETE FROM manifests`)
	if err != nil {
		return 0, fmt.Errorf("catalog: purge manifests: %w", s.writeErr(err))
	}
	n, _ := res.RowsAffected()
	if _, err := tx.ExecContext(ctx, `DELETE FROM manifest_bodies`); err != nil {
		return 0, fmt.Errorf("catalog: purge manifests: %w", s.writeErr(err))
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("catalog: purge manifests: %w", s.writeErr(err))
	}
	return n, nil
}
