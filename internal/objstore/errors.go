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
