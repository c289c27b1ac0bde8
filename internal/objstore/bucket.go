package objstore

import (
	"context"
	"errors"
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
		return c.fail(fmt.Sprintf("upload %q", c.t.Prefix+key), err)
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

// maxPasses bounds the listing passes of AbortUploads and EmptyBucket: a
// pass that finds nothing ends them; finding something in every pass
// means something keeps writing into the bucket.
const maxPasses = 5

// AbortUploads aborts every unfinished multipart upload under the prefix
// and returns how many it aborted. It lists again until a listing finds
// none.
func (c *Client) AbortUploads(ctx context.Context) (int, error) {
	core := minio.Core{Client: c.mc}
	total := 0
	for range maxPasses {
		n := 0
		err := c.ListUploads(ctx, func(u Upload) error {
			if err := core.AbortMultipartUpload(ctx, c.t.Bucket, u.Key, u.UploadID); err != nil {
				if minio.ToErrorResponse(err).Code == "NoSuchUpload" {
					return nil // finished or aborted meanwhile
				}
				return c.fail(fmt.Sprintf("abort the unfinished upload of %q", u.Key), err)
			}
			n++
			return nil
		})
		total += n
		if err != nil || n == 0 {
			return total, err
		}
	}
	return total, fmt.Errorf("%s: unfinished uploads still appear after %d passes: stop whatever writes into the bucket, then retry", c.t, maxPasses)
}

// DeleteOptions change how versions are deleted.
type DeleteOptions struct {
	// GovernanceBypass deletes versions under governance-mode object lock
	// retention (x-amz-bypass-governance-retention), for credentials
	// allowed to.
	GovernanceBypass bool
}

// DeleteError is one version that could not be deleted.
type DeleteError struct {
	Key       string
	VersionID string
	Err       error
}

func (e DeleteError) Error() string {
	return fmt.Sprintf("key %q version %q: %v", e.Key, e.VersionID, e.Err)
}

func (e DeleteError) Unwrap() error { return e.Err }

// ErrOutsidePrefix is a DeleteError's error for a key that is not under
// the client's prefix: DeleteVersions does not touch it.
var ErrOutsidePrefix = errors.New("key is outside the prefix")

// ErrDeleteFailed means some versions could not be deleted.
var ErrDeleteFailed = errors.New("object versions could not be deleted")

// ErrBucketNotEmpty means the bucket still holds objects (outside the
// prefix emptied, or written meanwhile).
var ErrBucketNotEmpty = errors.New("bucket is not empty")

// deleteBatch is the most keys one DeleteObjects request may carry.
const deleteBatch = 1000

// maxFailed is the most DeleteErrors DeleteVersions keeps.
const maxFailed = 1000

// DeleteVersions deletes the versions (and delete markers) received from
// versions, in DeleteObjects requests of at most 1,000 keys, until the
// channel is closed or ctx ends. A Version needs Key (full key, under the
// prefix) and VersionID ("" deletes the current object: in a versioned
// bucket that adds a delete marker); ListVersions gives both.
//
// deleted counts what the server deleted; failed holds each key it
// refused (at most the first 1,000; err then says how many in all). A
// version the server no longer has is neither deleted nor failed. err is
// set when the context ended or failures were dropped. Memory does not
// grow with the number of versions.
func (c *Client) DeleteVersions(ctx context.Context, versions <-chan Version, o DeleteOptions) (deleted int, failed []DeleteError, err error) {
	nfailed := 0
	err = c.deleteStream(ctx, versions, o, func(_ Version, e *DeleteError) {
		if e == nil {
			deleted++
			return
		}
		if nfailed++; len(failed) < maxFailed {
			failed = append(failed, *e)
		}
	})
	if err == nil && nfailed > len(failed) {
		err = fmt.Errorf("%s: %w: %d keys failed, the first %d are listed", c.t, ErrDeleteFailed, nfailed, len(failed))
	}
	return deleted, failed, err
}

// deleteStream deletes versions in batches of deleteBatch and calls fn
// for each outcome (e nil: deleted) with the Version it was given, so the
// caller knows a delete marker from a version. Only one batch is held.
func (c *Client) deleteStream(ctx context.Context, versions <-chan Version, o DeleteOptions, fn func(v Version, e *DeleteError)) error {
	type vkey struct{ key, id string }
	opts := minio.RemoveObjectsOptions{GovernanceBypass: o.GovernanceBypass}
	batch := make([]Version, 0, deleteBatch)
	pending := make(map[vkey]Version, deleteBatch)
	flush := func() {
		if len(batch) == 0 {
			return
		}
		objs := make(chan minio.ObjectInfo, len(batch))
		for _, v := range batch {
			pending[vkey{v.Key, v.VersionID}] = v
			objs <- minio.ObjectInfo{Key: v.Key, VersionID: v.VersionID}
		}
		close(objs)
		// One DeleteObjects request: the channel holds at most 1,000.
		for r := range c.mc.RemoveObjectsWithResult(ctx, c.t.Bucket, objs, opts) {
			k := vkey{r.ObjectName, r.ObjectVersionID}
			v, ok := pending[k]
			if !ok { // the server may spell the version differently ("null")
				for pk, pv := range pending {
					if pk.key == r.ObjectName {
						k, v, ok = pk, pv, true
						break
					}
				}
			}
			if ok {
				delete(pending, k)
			} else {
				v = Version{Key: r.ObjectName, VersionID: r.ObjectVersionID}
			}
			if r.Err != nil {
				fn(v, &DeleteError{Key: v.Key, VersionID: v.VersionID, Err: c.deleteFailed(r.Err)})
				continue
			}
			fn(v, nil)
		}
		// Left in pending: versions the server said it does not have
		// (minio-go drops NoSuchVersion), so already gone.
		clear(pending)
		batch = batch[:0]
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case v, ok := <-versions:
			if !ok {
				flush()
				return ctx.Err()
			}
			if !strings.HasPrefix(v.Key, c.t.Prefix) {
				fn(v, &DeleteError{Key: v.Key, VersionID: v.VersionID, Err: fmt.Errorf("%w %q of %s: not deleted", ErrOutsidePrefix, c.t.Prefix, c.t)})
				continue
			}
			if batch = append(batch, v); len(batch) == deleteBatch {
				flush()
			}
		}
	}
}

// deleteFailed explains why the server refused to delete one version
// (a DeleteError's Err: Key and VersionID say which). A refusal of one
// key in a request the server accepted is usually object lock, not the
// access keys.
func (c *Client) deleteFailed(err error) error {
	resp := minio.ToErrorResponse(err)
	switch resp.Code {
	case "AccessDenied", "ObjectLocked":
		return fmt.Errorf("delete refused (%s): %w: the version is under object lock (a legal hold, or retention: governance retention yields to GovernanceBypass, compliance retention only to time), or the credentials may not delete object versions",
			resp.Code, err)
	}
	return fmt.Errorf("delete: %w", c.classify(err))
}

// Removal is what EmptyBucket or RemoveBucket deleted.
type Removal struct {
	Versions          int  `json:"versions"`
	DeleteMarkers     int  `json:"delete_markers"`
	UnfinishedUploads int  `json:"unfinished_uploads"`
	BucketRemoved     bool `json:"bucket_removed"`
}

// EmptyBucket aborts every unfinished upload under the prefix, then
// deletes every object version and delete marker under it, streaming the
// listing into DeleteVersions' batches, and counts what was deleted. It
// lists again until a listing finds nothing, so it ends with nothing
// under the prefix. Any key that could not be deleted makes it fail,
// naming how many and the first. A missing bucket is empty: nothing to do.
func (c *Client) EmptyBucket(ctx context.Context, o DeleteOptions) (Removal, error) {
	rm, _, err := c.empty(ctx, o)
	return rm, err
}

// empty is EmptyBucket; exists says whether the bucket was there.
func (c *Client) empty(ctx context.Context, o DeleteOptions) (rm Removal, exists bool, err error) {
	if exists, err = c.Exists(ctx); err != nil || !exists {
		return rm, exists, err
	}
	if rm.UnfinishedUploads, err = c.AbortUploads(ctx); err != nil {
		return rm, true, err
	}
	for range maxPasses {
		found, err := c.emptyPass(ctx, o, &rm)
		if err != nil || found == 0 {
			return rm, true, err
		}
	}
	return rm, true, fmt.Errorf("%s: versions under prefix %q still appear after %d passes: stop whatever writes into the bucket, then retry", c.t, c.t.Prefix, maxPasses)
}

// emptyPass lists the versions under the prefix once, deleting them as
// they come, and adds what it deleted to rm. found is how many it listed.
func (c *Client) emptyPass(ctx context.Context, o DeleteOptions, rm *Removal) (found int, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	versions := make(chan Version)
	var listErr error
	listed := make(chan struct{})
	go func() {
		defer close(listed)
		defer close(versions)
		listErr = c.ListVersions(ctx, func(v Version) error {
			select {
			case versions <- v:
				found++
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	nfailed := 0
	var first *DeleteError
	delErr := c.deleteStream(ctx, versions, o, func(v Version, e *DeleteError) {
		switch {
		case e != nil:
			if nfailed++; first == nil {
				first = e
			}
		case v.IsDeleteMarker:
			rm.DeleteMarkers++
		default:
			rm.Versions++
		}
	})
	cancel() // ends the listing if the deletes stopped early
	<-listed
	switch {
	case nfailed > 0:
		return found, fmt.Errorf("%s: %w: %d under prefix %q, the first %v", c.t, ErrDeleteFailed, nfailed, c.t.Prefix, first)
	case delErr != nil:
		return found, delErr
	case listErr != nil:
		return found, listErr
	}
	return found, nil
}

// RemoveBucket empties the bucket (EmptyBucket) and removes it. The
// client must target the whole bucket (prefix ""); a missing bucket is not
// an error, so RemoveBucket can run twice.
func (c *Client) RemoveBucket(ctx context.Context, o DeleteOptions) (Removal, error) {
	if c.t.Prefix != "" {
		return Removal{}, fmt.Errorf("%s: refusing to remove the bucket through a client for prefix %q: use WithBucket(bucket, \"\")", c.t, c.t.Prefix)
	}
	rm, exists, err := c.empty(ctx, o)
	if err != nil || !exists {
		return rm, err
	}
	if err := c.mc.RemoveBucket(ctx, c.t.Bucket); err != nil {
		switch minio.ToErrorResponse(err).Code {
		case "NoSuchBucket":
			return rm, nil
		case "BucketNotEmpty":
			return rm, fmt.Errorf("%s: %w: objects were written while it was emptied; retry", c.t, ErrBucketNotEmpty)
		}
		return rm, c.fail("remove the bucket", err)
	}
	rm.BucketRemoved = true
	return rm, nil
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
