package objstore

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
)

// WithBucket returns a client for another bucket and prefix on the same
// endpoint, sharing c's minio client (connections) and credentials. The
// target's configured Region is kept (MakeBucket's default).
func (c *Client) WithBucket(bucket, prefix string) *Client {
	t := c.t
	t.Bucket, t.Prefix = bucket, prefix
	return &Client{t: t, mc: c.mc}
}

// fail wraps a minio-go error with what was being done, through classify.
func (c *Client) fail(op string, err error) error {
	return fmt.Errorf("%s: %w", op, c.classify(err))
}

// Exists reports whether the bucket exists.
func (c *Client) Exists(ctx context.Context) (bool, error) {
	ok, err := c.mc.BucketExists(ctx, c.t.Bucket)
	if err != nil {
		if minio.ToErrorResponse(err).Code == "NoSuchBucket" {
			return false, nil
		}
		return false, c.fail("look for the bucket", err)
	}
	return ok, nil
}

// MakeBucket makes the bucket in region (the target's Region when ""),
// with versioning off, unless it exists; created says whether it was made
// now. A bucket that appears meanwhile (BucketAlreadyOwnedByYou) is not
// an error.
func (c *Client) MakeBucket(ctx context.Context, region string) (created bool, err error) {
	if region == "" {
		region = c.t.Region
	}
	if ok, err := c.Exists(ctx); err != nil || ok {
		return false, err
	}
	if err := c.mc.MakeBucket(ctx, c.t.Bucket, minio.MakeBucketOptions{Region: region}); err != nil {
		if minio.ToErrorResponse(err).Code == "BucketAlreadyOwnedByYou" {
			return false, nil
		}
		return false, c.fail(fmt.Sprintf("create the bucket in region %q", region), err)
	}
	return true, nil
}

// Empty reports whether the bucket holds no current object under the
// prefix (delete markers and older versions do not count); a missing
// bucket is empty.
func (c *Client) Empty(ctx context.Context) (bool, error) {
	ok, err := c.Exists(ctx)
	if err != nil || !ok {
		return true, err
	}
	has, err := c.HasObjects(ctx, c.t.Prefix)
	return !has, err
}

// PutOptions describe an object written by Put.
type PutOptions struct {
	// ContentType is stored with the object (application/octet-stream
	// when "").
	ContentType string
	// Metadata is stored as the object's user metadata (x-amz-meta-*).
	Metadata map[string]string
}

// Put uploads one object of size bytes at the prefix followed by key.
func (c *Client) Put(ctx context.Context, key string, r io.Reader, size int64, o PutOptions) error {
	ct := o.ContentType
	if ct == "" {
		ct = "application/octet-stream"
	}
	_, err := c.mc.PutObject(ctx, c.t.Bucket, c.t.Prefix+key, r, size, minio.PutObjectOptions{ContentType: ct, UserMetadata: o.Metadata})
	if err != nil {
		return c.fail("upload "+keyRef(c.t.Prefix+key, ""), err)
	}
	return nil
}

// Version is one object version or delete marker. Key is the object's
// full key in the bucket (prefix included), as List reports it.
type Version struct {
	Key            string
	VersionID      string
	IsDeleteMarker bool
	IsLatest       bool
	Size           int64
	LastModified   time.Time
}

// ListVersions calls fn for every object version and delete marker under
// the prefix, a page of at most 1,000 at a time: memory does not grow
// with the number of versions. An error from fn stops the listing and is
// returned.
//
// Some servers repeat the last entry of a page at the start of the next
// (versitygw treats key-marker and version-id-marker as inclusive:
// versity/versitygw#2178); an entry equal to the one before it is
// skipped, since a correct listing never has two in a row.
func (c *Client) ListVersions(ctx context.Context, fn func(Version) error) error {
	lctx, cancel := context.WithCancel(ctx)
	ch := c.mc.ListObjects(lctx, c.t.Bucket, minio.ListObjectsOptions{Prefix: c.t.Prefix, Recursive: true, WithVersions: true})
	defer func() {
		cancel()
		for range ch { // let minio-go's listing goroutine end
		}
	}()
	var prevKey, prevID string
	first := true
	for o := range ch {
		if o.Err != nil {
			return c.fail("list object versions", o.Err)
		}
		if !first && o.Key == prevKey && o.VersionID == prevID {
			continue // the page's marker, sent again
		}
		first, prevKey, prevID = false, o.Key, o.VersionID
		v := Version{Key: o.Key, VersionID: o.VersionID, IsDeleteMarker: o.IsDeleteMarker, IsLatest: o.IsLatest, Size: o.Size, LastModified: o.LastModified}
		if err := fn(v); err != nil {
			return err
		}
	}
	// minio-go ends a listing whose context ended without an error.
	return ctx.Err()
}

// Upload is one unfinished multipart upload.
type Upload struct {
	Key       string // full key, prefix included
	UploadID  string
	Initiated time.Time
}

// ListUploads calls fn for every unfinished multipart upload under the
// prefix, a page at a time. An error from fn stops the listing and is
// returned. Like ListVersions it skips an entry equal to the one before.
func (c *Client) ListUploads(ctx context.Context, fn func(Upload) error) error {
	lctx, cancel := context.WithCancel(ctx)
	ch := c.mc.ListIncompleteUploads(lctx, c.t.Bucket, c.t.Prefix, true)
	defer func() {
		cancel()
		for range ch {
		}
	}()
	var prevKey, prevID string
	for u := range ch {
		if u.Err != nil {
			return c.fail("list unfinished uploads", u.Err)
		}
		if u.Key == prevKey && u.UploadID == prevID {
			continue // a page's marker, sent again (see ListVersions)
		}
		prevKey, prevID = u.Key, u.UploadID
		if err := fn(Upload{Key: u.Key, UploadID: u.UploadID, Initiated: u.Initiated}); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// ListBuckets returns the names, sorted, of the buckets on the client's
// endpoint that start with prefix.
func (c *Client) ListBuckets(ctx context.Context, prefix string) ([]string, error) {
	all, err := c.mc.ListBuckets(ctx)
	if err != nil {
		return nil, c.fail("list buckets", err)
	}
	var out []string
	for _, b := range all {
		if strings.HasPrefix(b.Name, prefix) {
			out = append(out, b.Name)
		}
	}
	slices.Sort(out)
	return out, nil
}
