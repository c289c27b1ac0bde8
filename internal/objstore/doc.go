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
// requests of at most 1,000 keys (DeleteVersions), and EmptyBucket and
// RemoveBucket, which stream the version listing into those deletes so
// that memory does not grow with the number of versions. Each consumer
// declares the narrow interface it needs.
package objstore
