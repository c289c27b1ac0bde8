package pgsql

import (
	"bufio"
	"cmp"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// This file reads pg_dump's custom archive format as it streams, the way
// pg_restore reads it from a pipe (pg_backup_archiver.c and
// pg_backup_custom.c in PostgreSQL's source describe it):
//
//	header  "PGDMP", version (major, minor, revision bytes), intSize,
//	        offSize, format (1: custom), compression (a byte from 1.15 on,
//	        an int before), creation time (7 ints), database name, server
//	        and pg_dump versions (strings)
//	TOC     an int count, then per entry: dumpId, hadDumper, table oid
//	        and oid (strings), tag, desc, section, defn, dropStmt,
//	        copyStmt, namespace, tablespace, tableam (1.14), relkind (int,
//	        1.16), owner, "false" (the old WITH OIDS flag), dependencies
//	        (strings ending with a null one), then the data state (a flag
//	        byte and offSize bytes of offset)
//	data    blocks in TOC order: a type byte (1: table data, 3: large
//	        objects) and the entry's dumpId; table data is a series of
//	        chunks, each an int length and that many bytes, ending with a
//	        length of zero; large objects are a series of (oid, chunks)
//	        ending with an oid of zero. The archive ends after the last
//	        block.
//
// An int is a sign byte and intSize bytes, least significant first; a
// string is an int length (-1 for null) and its bytes; an offset is a flag
// byte and offSize bytes. With --compress=0 a table's chunks are the COPY
// text pg_dump received from the server, ended by pg_dump's `\.` line.

// Archive versions this reader knows (major, minor, revision).
const (
	archiveMinVersion = 1<<16 | 12<<8 // 1.12: PostgreSQL 11's pg_dump
	archiveMaxVersion = 1<<16 | 16<<8 | 255
	version1_14       = 1<<16 | 14<<8 // tableam
	version1_15       = 1<<16 | 15<<8 // compression algorithm byte
	version1_16       = 1<<16 | 16<<8 // relkind
)

const (
	formatCustom  = 1
	blockData     = 1
	blockBlobs    = 3
	offsetNotSet  = 1
	offsetSet     = 2
	offsetNoData  = 3
	maxKeptString = 1 << 20 // tags, names, the ENCODING entry
)

// ErrArchive means the dump is not a custom-format archive this version
// of Steward can read (or it ended early).
var ErrArchive = errors.New("pg_dump archive")

// Archive is what a dump holds, as far as the manifest is concerned.
type Archive struct {
	// Version is the archive format's version, e.g. "1.14".
	Version string
	// Encoding is the client encoding pg_dump wrote the data in (the
	// archive's ENCODING entry), e.g. "UTF8".
	Encoding string
	// Tables has one entry per TABLE DATA entry, by schema then name,
	// with CopyMethod checksums.
	Tables []Table
}

// tocEntry is what the reader keeps of a TOC entry.
type tocEntry struct {
	schema, name string
	tableData    bool
	hasData      bool
	seen         bool
	sum          copySum
}

type archiveReader struct {
	br               *bufio.Reader
	version          int
	intSize, offSize int
}

// ReadArchive reads a custom-format archive made with --compress=0 from r
// to its end and returns every table's row count and CopyMethod checksum,
// computed from the COPY data as it passes: memory stays bounded by the
// read buffer whatever the tables' size. Any other input — another format,
// a compressed archive, an archive version it does not know, a truncated
// stream or trailing bytes — is an error (errors.Is ErrArchive).
func ReadArchive(r io.Reader) (*Archive, error) {
	a := &archiveReader{br: bufio.NewReaderSize(r, 1<<20)}
	out, err := a.read()
	if err != nil {
		switch {
		case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
			err = fmt.Errorf("%w: the stream ends inside the archive (%w)", ErrArchive, io.ErrUnexpectedEOF)
		case !errors.Is(err, ErrArchive):
			err = fmt.Errorf("%w: %w", ErrArchive, err)
		}
		return nil, err
	}
	return out, nil
}

func (a *archiveReader) read() (*Archive, error) {
	out := &Archive{}
	if err := a.header(out); err != nil {
		return nil, err
	}
	entries, err := a.toc(out)
	if err != nil {
		return nil, err
	}
	if err := a.data(entries); err != nil {
		return nil, err
	}
	for _, e := range entries {
		if !e.tableData {
			continue
		}
		if e.hasData && !e.seen {
			return nil, fmt.Errorf("%w: it ends before the data of table %s.%s", ErrArchive, e.schema, e.name)
		}
		if !e.seen {
			e.sum.ended = true // no data: an empty table
		}
		out.Tables = append(out.Tables, Table{Schema: e.schema, Name: e.name, Rows: e.sum.rows, Checksum: e.sum.checksum()})
	}
	slices.SortFunc(out.Tables, func(x, y Table) int { return cmp.Or(cmp.Compare(x.Schema, y.Schema), cmp.Compare(x.Name, y.Name)) })
	return out, nil
}

func (a *archiveReader) header(out *Archive) error {
	magic := make([]byte, 5)
	if _, err := io.ReadFull(a.br, magic); err != nil {
		return fmt.Errorf("read the header: %w", err)
	}
	if string(magic) != "PGDMP" {
		return fmt.Errorf("%w: not a custom-format archive (no PGDMP header)", ErrArchive)
	}
	var v [3]byte
	if _, err := io.ReadFull(a.br, v[:2]); err != nil {
		return err
	}
	if v[0] > 1 || (v[0] == 1 && v[1] > 0) { // the revision byte exists from 1.1 on
		rev, err := a.br.ReadByte()
		if err != nil {
			return err
		}
		v[2] = rev
	}
	a.version = int(v[0])<<16 | int(v[1])<<8 | int(v[2])
	out.Version = fmt.Sprintf("%d.%d", v[0], v[1])
	if a.version < archiveMinVersion || a.version > archiveMaxVersion {
		return fmt.Errorf("%w: version %d.%d.%d, this Steward reads 1.12 to 1.16 (pg_dump 11 to 17): use a pg_dump of one of those versions, or a Steward that knows this one",
			ErrArchive, v[0], v[1], v[2])
	}
	b, err := a.bytes(3)
	if err != nil {
		return err
	}
	a.intSize, a.offSize = int(b[0]), int(b[1])
	if a.intSize < 1 || a.intSize > 8 || a.offSize < 1 || a.offSize > 16 {
		return fmt.Errorf("%w: implausible integer sizes %d and %d", ErrArchive, a.intSize, a.offSize)
	}
	if b[2] != formatCustom {
		return fmt.Errorf("%w: format %d, not custom (1)", ErrArchive, b[2])
	}
	var compression int64
	if a.version >= version1_15 {
		c, err := a.br.ReadByte()
		if err != nil {
			return err
		}
		compression = int64(c)
	} else if compression, err = a.int(); err != nil {
		return err
	}
	if compression != 0 {
		return fmt.Errorf("%w: the archive is compressed (%d); Steward reads uncompressed archives only (pg_dump --compress=0)", ErrArchive, compression)
	}
	for range 7 { // creation time: sec, min, hour, mday, mon, year, isdst
		if _, err := a.int(); err != nil {
			return err
		}
	}
	for range 3 { // database name, server version, pg_dump version
		if _, err := a.str(false); err != nil {
			return err
		}
	}
	return nil
}

func (a *archiveReader) toc(out *Archive) (map[int64]*tocEntry, error) {
	n, err := a.int()
	if err != nil {
		return nil, err
	}
	if n < 0 {
		return nil, fmt.Errorf("%w: %d TOC entries", ErrArchive, n)
	}
	entries := map[int64]*tocEntry{}
	for range n {
		id, err := a.int()
		if err != nil {
			return nil, err
		}
		if id <= 0 || entries[id] != nil {
			return nil, fmt.Errorf("%w: TOC entry id %d out of range or repeated", ErrArchive, id)
		}
		e := &tocEntry{}
		entries[id] = e
		if _, err := a.int(); err != nil { // hadDumper
			return nil, err
		}
		for range 2 { // table oid, oid
			if _, err := a.str(false); err != nil {
				return nil, err
			}
		}
		tag, err := a.str(true)
		if err != nil {
			return nil, err
		}
		desc, err := a.str(true)
		if err != nil {
			return nil, err
		}
		if _, err := a.int(); err != nil { // section
			return nil, err
		}
		defn, err := a.str(desc == "ENCODING")
		if err != nil {
			return nil, err
		}
		if desc == "ENCODING" {
			out.Encoding = quoted(defn)
		}
		for range 2 { // dropStmt, copyStmt
			if _, err := a.str(false); err != nil {
				return nil, err
			}
		}
		namespace, err := a.str(true)
		if err != nil {
			return nil, err
		}
		if _, err := a.str(false); err != nil { // tablespace
			return nil, err
		}
		if a.version >= version1_14 {
			if _, err := a.str(false); err != nil { // tableam
				return nil, err
			}
		}
		if a.version >= version1_16 {
			if _, err := a.int(); err != nil { // relkind
				return nil, err
			}
		}
		for range 2 { // owner, "false"
			if _, err := a.str(false); err != nil {
				return nil, err
			}
		}
		for { // dependencies, ending with a null string
			d, err := a.strOrNull()
			if err != nil {
				return nil, err
			}
			if d < 0 {
				break
			}
		}
		flag, err := a.br.ReadByte()
		if err != nil {
			return nil, err
		}
		if _, err := a.bytes(a.offSize); err != nil {
			return nil, err
		}
		if flag != offsetNotSet && flag != offsetSet && flag != offsetNoData {
			return nil, fmt.Errorf("%w: data offset flag %d", ErrArchive, flag)
		}
		if desc == "TABLE DATA" {
			*e = tocEntry{schema: namespace, name: tag, tableData: true, hasData: flag != offsetNoData, sum: copySum{dump: true}}
		}
	}
	if out.Encoding == "" {
		return nil, fmt.Errorf("%w: no ENCODING entry", ErrArchive)
	}
	return entries, nil
}

// data reads the data blocks to the end of the archive.
func (a *archiveReader) data(entries map[int64]*tocEntry) error {
	for {
		typ, err := a.br.ReadByte()
		if errors.Is(err, io.EOF) {
			return nil // the end, between blocks
		}
		if err != nil {
			return err
		}
		if typ != blockData && typ != blockBlobs {
			return fmt.Errorf("%w: data block of unknown type %d", ErrArchive, typ)
		}
		id, err := a.int()
		if err != nil {
			return err
		}
		e := entries[id]
		if e == nil || e.seen {
			return fmt.Errorf("%w: data block for TOC entry %d, which has none or had it already", ErrArchive, id)
		}
		e.seen = true
		switch typ {
		case blockData:
			var w io.Writer = io.Discard
			if e.tableData {
				w = &e.sum
			}
			if err := a.chunks(w); err != nil {
				if e.tableData {
					return fmt.Errorf("table %s.%s: %w", e.schema, e.name, err)
				}
				return err
			}
			if e.tableData {
				if err := e.sum.finish(); err != nil {
					return fmt.Errorf("%w: table %s.%s: %w", ErrArchive, e.schema, e.name, err)
				}
			}
		default: // blockBlobs
			for {
				oid, err := a.int()
				if err != nil {
					return err
				}
				if oid == 0 {
					break
				}
				if err := a.chunks(io.Discard); err != nil {
					return err
				}
			}
		}
	}
}

// chunks passes one block's chunks to w, straight from the read buffer.
func (a *archiveReader) chunks(w io.Writer) error {
	for {
		n, err := a.int()
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		if n < 0 {
			return fmt.Errorf("%w: chunk of length %d", ErrArchive, n)
		}
		for n > 0 {
			if a.br.Buffered() == 0 {
				if _, err := a.br.Peek(1); err != nil {
					return err
				}
			}
			p, _ := a.br.Peek(int(min(n, int64(a.br.Buffered()))))
			if _, err := w.Write(p); err != nil {
				return fmt.Errorf("%w: %w", ErrArchive, err)
			}
			a.br.Discard(len(p))
			n -= int64(len(p))
		}
	}
}

func (a *archiveReader) bytes(n int) ([]byte, error) {
	b, err := a.br.Peek(n)
	if err != nil {
		return nil, err
	}
	a.br.Discard(n)
	return b, nil
}

// int reads a sign byte and intSize bytes, least significant first.
func (a *archiveReader) int() (int64, error) {
	b, err := a.bytes(1 + a.intSize)
	if err != nil {
		return 0, err
	}
	var v uint64
	for i := a.intSize; i >= 1; i-- {
		v = v<<8 | uint64(b[i])
	}
	if v > 1<<62 {
		return 0, fmt.Errorf("%w: integer out of range", ErrArchive)
	}
	if b[0] != 0 {
		return -int64(v), nil
	}
	return int64(v), nil
}

// strOrNull skips a string; its length is -1 for a null one.
func (a *archiveReader) strOrNull() (int64, error) {
	n, err := a.int()
	if err != nil {
		return 0, err
	}
	if n < -1 {
		return 0, fmt.Errorf("%w: string of length %d", ErrArchive, n)
	}
	if n > 0 {
		if _, err := a.br.Discard(int(n)); err != nil {
			return 0, err
		}
	}
	return n, nil
}

// str reads a string (null reads as ""), or skips it unless keep.
func (a *archiveReader) str(keep bool) (string, error) {
	if !keep {
		_, err := a.strOrNull()
		return "", err
	}
	n, err := a.int()
	if err != nil {
		return "", err
	}
	if n < -1 || n > maxKeptString {
		return "", fmt.Errorf("%w: string of length %d", ErrArchive, n)
	}
	if n <= 0 {
		return "", nil
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(a.br, b); err != nil {
		return "", err
	}
	return string(b), nil
}

// quoted is the first single-quoted word of s: UTF8 in
// "SET client_encoding = 'UTF8';".
func quoted(s string) string {
	_, rest, ok := strings.Cut(s, "'")
	if !ok {
		return ""
	}
	v, _, ok := strings.Cut(rest, "'")
	if !ok {
		return ""
	}
	return v
}
