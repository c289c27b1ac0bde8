// Package objstore talks to S3-compatible storage through minio-go: it
// asks a bucket for its real region (the data-residency check, req 2),
// probes a bucket with a short deadline, lists current objects and streams
// them. Later capabilities add versions, bulk deletes and unfinished
// uploads here; each consumer declares the narrow interface it needs.
package objstore
