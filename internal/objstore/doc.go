// Package objstore talks to S3-compatible storage through minio-go, and is
// the only package that builds a minio-go client (New; WithBucket shares
// it with another bucket). It asks a bucket for its real region (the
// data-residency check, req 2), probes a bucket with a short deadline,
// lists current objects and streams them.
//
// For restores, drills and erasure it also makes, fills, empties and
// removes buckets: Exists, MakeBucket, Empty, Put, ListBuckets; every
// object version and delete marker (ListVersions), unfinished multipart
// uploads (ListUploads, AbortUploads), bulk deletes in DeleteObjects
// requests of at most 1,000 keys (DeleteVersions). Purge is erase's
// logical deletion of a bucket or prefix: it aborts every unfinished
// upload, streams the version listing into those deletes (a few requests
// at a time, so that memory does not grow with the number of versions),
// then removes the bucket; versions under object lock come back as
// Exceptions, "already absent" is success, and the Removal it returns is
// the evidence. EmptyBucket and RemoveBucket are Purge for restores and
// drills. Each consumer declares the narrow interface it needs.
//
// Object keys are contract data: errors name an object by KeyHash (the
// SHA-256 of its key), never by its key.
package objstore
