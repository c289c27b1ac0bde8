package keys

import "errors"

// ErrNoMasterKey is returned when the state dir has no master key yet.
var ErrNoMasterKey = errors.New("no master key: run `steward init` first")

// ErrMasterKeyDestroyed is returned when contract-end erasure destroyed
// the master key: no sealed value of the contract opens any more.
var ErrMasterKeyDestroyed = errors.New("the master key was destroyed by contract-end erasure")

// ErrBadSealed is returned for a sealed value that is malformed, was sealed
// with another master key, or was sealed for another purpose.
var ErrBadSealed = errors.New("sealed value cannot be opened with this master key (wrong key, wrong purpose or damaged)")

// ErrExists is returned when a key file would be overwritten.
var ErrExists = errors.New("key file already exists")
