package catalog

import "errors"

// ErrNotFound is returned when a requested row does not exist.
var ErrNotFound = errors.New("not found")

// ErrNoCatalog is returned when the state dir holds no catalog yet.
var ErrNoCatalog = errors.New("no catalog in the state dir: run `steward init` first")

// ErrDamaged is returned when an existing catalog file is empty or is not
// a Steward catalog: its history is not silently replaced by a new one.
var ErrDamaged = errors.New("the catalog is damaged")

// ErrNewerSchema is returned when the catalog was written by a newer Steward.
var ErrNewerSchema = errors.New("the catalog was written by a newer Steward: upgrade this binary")

// ErrDiskFull is wrapped by the error of a catalog write that failed
// because the disk holding the state dir is full. The error names the
// catalog's path and says to free space; nothing was recorded.
var ErrDiskFull = errors.New("the state dir's disk is full")

// ErrReadOnly is wrapped by the error of a catalog write that failed
// because the state dir, or its file system, cannot be written by this
// user; nothing was recorded.
var ErrReadOnly = errors.New("the state dir is read-only")

// ErrNotEmpty is returned when a catalog is to be created, or copied,
// into a database that holds one already: its history is never mixed
// with another.
var ErrNotEmpty = errors.New("the target catalog is not empty")
