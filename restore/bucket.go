package restore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"steward/internal/objstore"
)

// Bucket writes into and removes one bucket: what a restore into a bucket
// and a drill's scratch bucket need beyond objstore's reading client.
type Bucket struct {
	t  objstore.Target
	mc *minio.Client
}

// OpenBucket returns a Bucket for t. Like objstore's client its region is
// empty, so the server answers for each bucket.
func OpenBucket(t objstore.Target) (*Bucket, error) {
	mc, err := newMinio(t)
	if err != nil {
		return nil, err
	}
	return &Bucket{t: t, mc: mc}, nil
}

func newMinio(t objstore.Target) (*minio.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	tr.ResponseHeaderTimeout = 30 * time.Second
	mc, err := minio.New(t.Host, &minio.Options{
		Creds:        credentials.NewStaticV4(string(t.AccessKey.Reveal()), string(t.SecretKey.Reveal()), ""),
		Secure:       t.Secure,
		BucketLookup: minio.BucketLookupPath,
		Transport:    tr,
		MaxRetries:   2,
	})
	if err != nil {
		return nil, fmt.Errorf("s3 client for %s: %w", t.Host, err)
	}
	return mc, nil
}

// Target is the bucket's target.
func (b *Bucket) Target() objstore.Target { return b.t }

// Exists reports whether the bucket exists.
func (b *Bucket) Exists(ctx context.Context) (bool, error) {
	ok, err := b.mc.BucketExists(ctx, b.t.Bucket)
	if err != nil {
		return false, fmt.Errorf("%s: %w", b.t, err)
	}
	return ok, nil
}

// Create makes the bucket in region (with versioning off) unless it
// exists; created says whether it was made now.
func (b *Bucket) Create(ctx context.Context, region string) (created bool, err error) {
	if ok, err := b.Exists(ctx); err != nil || ok {
		return false, err
	}
	if err := b.mc.MakeBucket(ctx, b.t.Bucket, minio.MakeBucketOptions{Region: region}); err != nil {
		code := minio.ToErrorResponse(err).Code
		if code == "BucketAlreadyOwnedByYou" {
			return false, nil
		}
		return false, fmt.Errorf("create %s: %w", b.t, err)
	}
	return true, nil
}

// Empty reports whether the bucket holds no current object under the
// target's prefix; a missing bucket is empty.
func (b *Bucket) Empty(ctx context.Context) (bool, error) {
	ok, err := b.Exists(ctx)
	if err != nil || !ok {
		return true, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for obj := range b.mc.ListObjects(ctx, b.t.Bucket, minio.ListObjectsOptions{Prefix: b.t.Prefix, Recursive: true, MaxKeys: 1}) {
		if obj.Err != nil {
			return false, fmt.Errorf("%s: %w", b.t, obj.Err)
		}
		return false, nil
	}
	return true, nil
}

// Put uploads one object of size bytes under the target's prefix.
func (b *Bucket) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	_, err := b.mc.PutObject(ctx, b.t.Bucket, b.t.Prefix+key, r, size, minio.PutObjectOptions{ContentType: "application/octet-stream"})
	if err != nil {
		return fmt.Errorf("upload an object into %s: %w", b.t, err)
	}
	return nil
}

// Removal is what Remove deleted.
type Removal struct {
	Versions          int  `json:"versions"`
	DeleteMarkers     int  `json:"delete_markers"`
	UnfinishedUploads int  `json:"unfinished_uploads"`
	BucketRemoved     bool `json:"bucket_removed"`
}

// Remove deletes every object version, delete marker and unfinished
// upload in the bucket, then the bucket itself. A missing bucket is not
// an error (Remove can run twice).
func (b *Bucket) Remove(ctx context.Context) (Removal, error) {
	var rm Removal
	ok, err := b.Exists(ctx)
	if err != nil || !ok {
		return rm, err
	}
	for up := range b.mc.ListIncompleteUploads(ctx, b.t.Bucket, "", true) {
		if up.Err != nil {
			return rm, fmt.Errorf("list unfinished uploads of %s: %w", b.t, up.Err)
		}
		if err := b.mc.RemoveIncompleteUpload(ctx, b.t.Bucket, up.Key); err != nil {
			return rm, fmt.Errorf("abort an unfinished upload in %s: %w", b.t, err)
		}
		rm.UnfinishedUploads++
	}
	objs := make(chan minio.ObjectInfo)
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var listErr error
	go func() {
		defer close(objs)
		for o := range b.mc.ListObjects(lctx, b.t.Bucket, minio.ListObjectsOptions{WithVersions: true, Recursive: true}) {
			if o.Err != nil {
				listErr = o.Err
				return
			}
			if o.IsDeleteMarker {
				rm.DeleteMarkers++
			} else {
				rm.Versions++
			}
			select {
			case objs <- o:
			case <-lctx.Done():
				return
			}
		}
	}()
	var delErr error
	for e := range b.mc.RemoveObjects(ctx, b.t.Bucket, objs, minio.RemoveObjectsOptions{GovernanceBypass: true}) {
		if e.Err != nil && delErr == nil {
			delErr = e.Err
		}
	}
	if listErr != nil {
		return rm, fmt.Errorf("list the versions in %s: %w", b.t, listErr)
	}
	if delErr != nil {
		return rm, fmt.Errorf("delete versions in %s: %w", b.t, delErr)
	}
	if err := b.mc.RemoveBucket(ctx, b.t.Bucket); err != nil {
		if minio.ToErrorResponse(err).Code == "NoSuchBucket" {
			return rm, nil
		}
		return rm, fmt.Errorf("remove %s: %w", b.t, err)
	}
	rm.BucketRemoved = true
	return rm, nil
}

// ListBuckets lists the buckets on t's endpoint whose names start with
// prefix (to check by listing that a scratch bucket is gone).
func ListBuckets(ctx context.Context, t objstore.Target, prefix string) ([]string, error) {
	mc, err := newMinio(t)
	if err != nil {
		return nil, err
	}
	all, err := mc.ListBuckets(ctx)
	if err != nil {
		return nil, fmt.Errorf("list buckets at %s: %w", t.Host, err)
	}
	var out []string
	for _, b := range all {
		if strings.HasPrefix(b.Name, prefix) {
			out = append(out, b.Name)
		}
	}
	return out, nil
}

// restoreBucket streams the snapshot's tar archive (restic dump) into a
// bucket (created when missing) or a directory.
func (r *Restorer) restoreBucket(ctx context.Context, rs *Resolved, snap Snapshot, to Target, res *Result, p *meter) error {
	var put func(key string, rd io.Reader, size int64, mtime time.Time) error
	if to.Bucket != nil {
		b, err := OpenBucket(*to.Bucket)
		if err != nil {
			return err
		}
		region := to.Bucket.Region
		if region == "" && len(r.cfg.Residency.AllowedRegions) > 0 {
			region = r.cfg.Residency.AllowedRegions[0]
		}
		if _, err := b.Create(ctx, region); err != nil {
			return err
		}
		// The bucket must be in an allowed region before any byte is
		// written (req 2).
		c, err := objstore.New(*to.Bucket)
		if err != nil {
			return err
		}
		if _, err := r.eng.CheckRegion(ctx, "restore-target:"+to.Bucket.Bucket, "restore target", c); err != nil {
			return err
		}
		put = func(key string, rd io.Reader, size int64, _ time.Time) error { return b.Put(ctx, key, rd, size) }
	} else {
		if err := os.MkdirAll(to.Dir, 0o700); err != nil {
			return err
		}
		put = func(key string, rd io.Reader, _ int64, mtime time.Time) error {
			return writeFile(to.Dir, key, rd, mtime)
		}
	}
	err := r.dump(ctx, rs, snap, func(in io.Reader) error {
		err := untar(in, p, res, put)
		if err == nil {
			_, _ = io.Copy(io.Discard, in) // tar padding after the end marker
		}
		return err
	})
	if errors.Is(err, errConsumerDone) {
		err = nil
	}
	return err
}
