package catalog

import (
	"errors"
	"fmt"
	"path/filepath"
	"syscall"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// lowSpace is how little free space counts as a full disk when SQLite
// reports an I/O error: it does not say which system error it got, and
// one write-ahead log frame or the 32 KiB of a -shm file do not fit.
const lowSpace = 1 << 20

// writeErr explains err, from a write to the catalog, when the write
// failed because the disk is full or the store can only read; other
// errors are returned as they are.
func (s *SQLite) writeErr(err error) error {
	switch {
	case err == nil:
		return nil
	case s.readOnly != nil && sqliteCode(err) == sqlite3.SQLITE_READONLY:
		return unwritable(s.readOnly)
	case isDiskFull(s.path, err):
		return unwritable(diskFull(s.path))
	}
	return err
}

// diskFull says that the disk holding the catalog at path is full, and
// what to do.
func diskFull(path string) error {
	return fmt.Errorf("%w (%s): free space on that disk", ErrDiskFull, path)
}

// readOnly says that nothing can be written beside the catalog at path
// (cause is SQLite's error), and what to do.
func readOnly(path string, cause error) error {
	return fmt.Errorf("%w (%s: %v): make it writable for this user", ErrReadOnly, path, cause)
}

// unwritable is the error of a write that failed for the reason why
// (diskFull or readOnly).
func unwritable(why error) error {
	return fmt.Errorf("%w and run the command again; nothing was recorded", why)
}

// isDiskFull reports whether err, from the catalog at path, means that
// its disk is full: SQLITE_FULL, ENOSPC, or an I/O error while the disk
// has less than lowSpace free.
func isDiskFull(path string, err error) bool {
	switch sqliteCode(err) {
	case sqlite3.SQLITE_FULL:
		return true
	case sqlite3.SQLITE_IOERR:
		free, ok := freeSpace(filepath.Dir(path))
		return ok && free < lowSpace
	}
	return errors.Is(err, syscall.ENOSPC)
}

// cannotWrite reports whether err, from reading the catalog at path,
// means that SQLite could not write beside it (full disk, read-only
// directory or file system), as WAL mode needs to even to read.
func cannotWrite(path string, err error) bool {
	switch sqliteCode(err) {
	case sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN:
		return true
	}
	return isDiskFull(path, err)
}

// sqliteCode is the primary result code of a SQLite error, or 0.
func sqliteCode(err error) int {
	var e *sqlite.Error
	if errors.As(err, &e) {
		return e.Code() & 0xff
	}
	return 0
}
