package objstore

import "errors"

var (
	// ErrUnreachable means the endpoint did not answer (wrong host or
	// port, server down, network filtered).
	ErrUnreachable = errors.New("S3 endpoint does not answer")
	// ErrAccessDenied means the server refused the credentials.
	ErrAccessDenied = errors.New("S3 credentials were refused")
	// ErrNoSuchBucket means the bucket does not exist.
	ErrNoSuchBucket = errors.New("bucket does not exist")
)

// Errors of deleting object versions (Purge, DeleteVersions).
var (
	// ErrRetained means some versions stay under object lock (compliance
	// retention, a legal hold, governance retention without the bypass):
	// Purge deleted everything else and lists them as Exceptions.
	ErrRetained = errors.New("object versions are retained by object lock")
	// ErrDeleteFailed means the server refused to delete versions for a
	// reason no object lock explains (usually the credentials).
	ErrDeleteFailed = errors.New("object versions could not be deleted")
	// ErrBucketNotEmpty means the bucket still holds objects (written
	// while it was emptied).
	ErrBucketNotEmpty = errors.New("bucket is not empty")
	// ErrOutsidePrefix is a DeleteError's error for a key that is not
	// under the client's prefix: DeleteVersions does not touch it.
	ErrOutsidePrefix = errors.New("key is outside the prefix")
)
