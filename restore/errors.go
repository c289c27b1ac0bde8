package restore

import "errors"

var (
	// ErrNotEmpty means the target holds data and Force was not given.
	ErrNotEmpty = errors.New("restore target is not empty")
	// ErrIntoSource means the target is the live source and IntoSource
	// was not given.
	ErrIntoSource = errors.New("restore target is the live source")
	// ErrConfirmation means IntoSource was given without the typed
	// confirmation (the source's name).
	ErrConfirmation = errors.New("restoring into the live source needs typed confirmation")
	// ErrNoSnapshot means no snapshot of the source matches.
	ErrNoSnapshot = errors.New("no such snapshot of the source")
	// ErrBadTarget means the target does not suit the source's kind.
	ErrBadTarget = errors.New("restore target does not suit the source")
	// ErrBadRepository means the repository named is neither the job's
	// primary nor one of its replicas.
	ErrBadRepository = errors.New("not a repository of the job")
	// ErrUnsafeName means an object key cannot be written as a file name
	// (absolute, "..", or empty components).
	ErrUnsafeName = errors.New("object key is not a safe file name")
)
