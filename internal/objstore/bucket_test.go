package objstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"steward/internal/testenv"
)

func newClient(t *testing.T, tg Target) *Client {
	t.Helper()
	c, err := New(tg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func put(t *testing.T, ctx context.Context, mc *minio.Client, bucket, key, body string) {
	t.Helper()
	if _, err := mc.PutObject(ctx, bucket, key, strings.NewReader(body), int64(len(body)), minio.PutObjectOptions{}); err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
}

// count lists c's versions and counts them.
func count(t *testing.T, ctx context.Context, c *Client) (versions, markers int) {
	t.Helper()
	err := c.ListVersions(ctx, func(v Version) error {
		if v.IsDeleteMarker {
			markers++
		} else {
			versions++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return versions, markers
}

func uploads(t *testing.T, ctx context.Context, c *Client) []string {
	t.Helper()
	var keys []string
	if err := c.ListUploads(ctx, func(u Upload) error {
		if u.UploadID == "" || u.Initiated.IsZero() {
			t.Errorf("upload %+v", u)
		}
		keys = append(keys, u.Key)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return keys
}

// bigCount is more versions than one DeleteObjects request may carry.
const bigCount = 1100

func TestVersionsEmptyRemove(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	s := testenv.StartS3(t)
	s.MakeBucket(t, "vers", testenv.WithVersioning())
	mc := s.Client(t)
	core := minio.Core{Client: mc}

	// Under data/: three versions of data/a, then a delete marker on it;
	// bigCount other objects; one unfinished upload. Outside: other/o and
	// an unfinished upload of other/mp, which EmptyBucket must not touch.
	for i := range 3 {
		put(t, ctx, mc, "vers", "data/a", fmt.Sprintf("v%d", i))
	}
	if err := mc.RemoveObject(ctx, "vers", "data/a", minio.RemoveObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for w := range 4 {
		wg.Go(func() {
			for i := w; i < bigCount; i += 4 {
				k := fmt.Sprintf("data/big/%04d", i)
				if _, err := mc.PutObject(ctx, "vers", k, strings.NewReader("x"), 1, minio.PutObjectOptions{}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	put(t, ctx, mc, "vers", "other/o", "keep")
	for _, k := range []string{"data/mp", "other/mp"} {
		if _, err := core.NewMultipartUpload(ctx, "vers", k, minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	c := newClient(t, target(s, "vers", s.AccessKey, s.SecretKey)).WithBucket("vers", "data/")
	var aVersions []Version
	nv, nm := 0, 0
	seen := map[string]int{}
	if err := c.ListVersions(ctx, func(v Version) error {
		if v.IsDeleteMarker {
			nm++
		} else {
			nv++
		}
		// versitygw repeats a page's last entry on the next page.
		if seen[v.Key+" "+v.VersionID]++; seen[v.Key+" "+v.VersionID] > 1 {
			t.Errorf("listed twice: %+v", v)
		}
		if v.Key == "data/a" {
			aVersions = append(aVersions, v)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if nv != 3+bigCount || nm != 1 {
		t.Fatalf("listed %d versions, %d delete markers; want %d, 1", nv, nm, 3+bigCount)
	}
	if len(aVersions) != 4 {
		t.Fatalf("data/a: %+v", aVersions)
	}
	latest := 0
	for _, v := range aVersions {
		if v.VersionID == "" {
			t.Fatalf("no version id: %+v", v)
		}
		if v.IsLatest {
			latest++
			if !v.IsDeleteMarker {
				t.Fatalf("latest of data/a is not the delete marker: %+v", v)
			}
		} else if v.Size != 2 || v.LastModified.IsZero() {
			t.Fatalf("version %+v", v)
		}
	}
	if latest != 1 {
		t.Fatalf("%d latest versions of data/a", latest)
	}
	// An error from fn stops the listing and comes back.
	stop := errors.New("stop")
	n := 0
	if err := c.ListVersions(ctx, func(Version) error { n++; return stop }); !errors.Is(err, stop) || n != 1 {
		t.Fatalf("stopped listing: %v after %d", err, n)
	}
	if got := uploads(t, ctx, c); !slices.Equal(got, []string{"data/mp"}) {
		t.Fatalf("uploads under data/: %v", got)
	}
	if empty, err := c.Empty(ctx); err != nil || empty {
		t.Fatalf("empty %v, %v; want false", empty, err)
	}

	rm, err := c.EmptyBucket(ctx, DeleteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want := (Removal{Versions: 3 + bigCount, DeleteMarkers: 1, UnfinishedUploads: 1, Bytes: 3*2 + bigCount}); !reflect.DeepEqual(rm, want) {
		t.Fatalf("removal %+v, want %+v", rm, want)
	}
	if v, m := count(t, ctx, c); v != 0 || m != 0 {
		t.Fatalf("after EmptyBucket: %d versions, %d delete markers", v, m)
	}
	if got := uploads(t, ctx, c); len(got) != 0 {
		t.Fatalf("uploads left: %v", got)
	}
	if empty, err := c.Empty(ctx); err != nil || !empty {
		t.Fatalf("empty %v, %v; want true", empty, err)
	}
	// Outside the prefix nothing changed.
	if _, err := mc.StatObject(ctx, "vers", "other/o", minio.StatObjectOptions{}); err != nil {
		t.Fatalf("other/o: %v", err)
	}
	whole := c.WithBucket("vers", "")
	if got := uploads(t, ctx, whole); !slices.Equal(got, []string{"other/mp"}) {
		t.Fatalf("uploads in the bucket: %v", got)
	}

	// RemoveBucket wants the whole bucket.
	if _, err := c.RemoveBucket(ctx, DeleteOptions{}); err == nil || !strings.Contains(err.Error(), "prefix") {
		t.Fatalf("RemoveBucket with a prefix: %v", err)
	}
	rm, err = whole.RemoveBucket(ctx, DeleteOptions{GovernanceBypass: true})
	if err != nil {
		t.Fatal(err)
	}
	if want := (Removal{Versions: 1, UnfinishedUploads: 1, Bytes: 4, BucketRemoved: true}); !reflect.DeepEqual(rm, want) {
		t.Fatalf("removal %+v, want %+v", rm, want)
	}
	if ok, err := whole.Exists(ctx); err != nil || ok {
		t.Fatalf("exists after RemoveBucket: %v, %v", ok, err)
	}
	rm, err = whole.RemoveBucket(ctx, DeleteOptions{GovernanceBypass: true})
	if err != nil || !reflect.DeepEqual(rm, Removal{AlreadyAbsent: true}) {
		t.Fatalf("second RemoveBucket: %+v, %v", rm, err)
	}
	if rm, err := whole.EmptyBucket(ctx, DeleteOptions{}); err != nil || !reflect.DeepEqual(rm, Removal{AlreadyAbsent: true}) {
		t.Fatalf("EmptyBucket of a missing bucket: %+v, %v", rm, err)
	}
}

func TestPutMakeListBuckets(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s := testenv.StartS3(t)
	mc := s.Client(t)
	base := newClient(t, target(s, "unused", s.AccessKey, s.SecretKey))
	c := base.WithBucket("drill-a", "p/")
	if c.Target().Bucket != "drill-a" || c.Target().Prefix != "p/" || base.Target().Bucket != "unused" {
		t.Fatalf("WithBucket: %+v, base %+v", c.Target(), base.Target())
	}

	// Missing bucket: not there, empty.
	if ok, err := c.Exists(ctx); err != nil || ok {
		t.Fatalf("exists %v, %v", ok, err)
	}
	if empty, err := c.Empty(ctx); err != nil || !empty {
		t.Fatalf("missing bucket: empty %v, %v", empty, err)
	}
	if created, err := c.MakeBucket(ctx, s.Region); err != nil || !created {
		t.Fatalf("make: %v, %v", created, err)
	}
	if created, err := c.MakeBucket(ctx, s.Region); err != nil || created {
		t.Fatalf("make again: %v, %v", created, err)
	}
	if ok, err := c.Exists(ctx); err != nil || !ok {
		t.Fatalf("exists %v, %v", ok, err)
	}
	if empty, err := c.Empty(ctx); err != nil || !empty {
		t.Fatalf("new bucket: empty %v, %v", empty, err)
	}
	// An object outside the prefix leaves the prefix empty.
	put(t, ctx, mc, "drill-a", "q/x", "x")
	if empty, err := c.Empty(ctx); err != nil || !empty {
		t.Fatalf("object outside the prefix: empty %v, %v", empty, err)
	}

	body := "hello, bucket"
	if err := c.Put(ctx, "dir/k", strings.NewReader(body), int64(len(body)), PutOptions{ContentType: "text/plain", Metadata: map[string]string{"Customer": "acme", "Mtime": "2026-01-02T03:04:05Z"}}); err != nil {
		t.Fatal(err)
	}
	if err := c.Put(ctx, "plain", bytes.NewReader([]byte{1, 2, 3}), 3, PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if empty, err := c.Empty(ctx); err != nil || empty {
		t.Fatalf("after Put: empty %v, %v", empty, err)
	}
	st, err := mc.StatObject(ctx, "drill-a", "p/dir/k", minio.StatObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if st.ContentType != "text/plain" || st.Size != int64(len(body)) || st.UserMetadata["Customer"] != "acme" || st.UserMetadata["Mtime"] != "2026-01-02T03:04:05Z" {
		t.Fatalf("stat: type %q size %d metadata %v", st.ContentType, st.Size, st.UserMetadata)
	}
	if st, err := mc.StatObject(ctx, "drill-a", "p/plain", minio.StatObjectOptions{}); err != nil || st.ContentType != "application/octet-stream" || st.Size != 3 {
		t.Fatalf("stat plain: %+v, %v", st, err)
	}
	rc, _, err := c.Open(ctx, "p/dir/k")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if string(got) != body {
		t.Fatalf("read %q", got)
	}

	for _, b := range []string{"drill-b", "other"} {
		if _, err := base.WithBucket(b, "").MakeBucket(ctx, ""); err != nil { // "" → the target's region
			t.Fatal(err)
		}
	}
	names, err := base.ListBuckets(ctx, "drill-")
	if err != nil || !slices.Equal(names, []string{"drill-a", "drill-b"}) {
		t.Fatalf("buckets drill-*: %v, %v", names, err)
	}
	if names, err := base.ListBuckets(ctx, ""); err != nil || len(names) != 3 {
		t.Fatalf("all buckets: %v, %v", names, err)
	}

	// An unversioned bucket is removed with its objects.
	rm, err := c.WithBucket("drill-a", "").RemoveBucket(ctx, DeleteOptions{})
	if err != nil || !reflect.DeepEqual(rm, Removal{Versions: 3, Bytes: 1 + 13 + 3, BucketRemoved: true}) {
		t.Fatalf("remove: %+v, %v", rm, err)
	}
	if names, err := base.ListBuckets(ctx, "drill-"); err != nil || !slices.Equal(names, []string{"drill-b"}) {
		t.Fatalf("buckets drill-* after remove: %v, %v", names, err)
	}

	// Errors say what to fix.
	bad := newClient(t, target(s, "drill-b", s.AccessKey, "wrong"))
	if _, err := bad.RemoveBucket(ctx, DeleteOptions{}); !errors.Is(err, ErrAccessDenied) {
		t.Fatalf("wrong secret: %v", err)
	}
	if _, err := bad.ListBuckets(ctx, ""); !errors.Is(err, ErrAccessDenied) {
		t.Fatalf("wrong secret: %v", err)
	}
	if err := base.WithBucket("nope", "").ListVersions(ctx, func(Version) error { return nil }); !errors.Is(err, ErrNoSuchBucket) {
		t.Fatalf("missing bucket: %v", err)
	}
}

func TestDeleteVersionsFailures(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s := testenv.StartS3(t)
	s.MakeBucket(t, "locked", testenv.WithObjectLock())
	mc := s.Client(t)
	until := time.Now().Add(time.Hour)
	gov := minio.Governance
	info, err := mc.PutObject(ctx, "locked", "d/held", strings.NewReader("h"), 1, minio.PutObjectOptions{Mode: gov, RetainUntilDate: until})
	if err != nil {
		t.Fatal(err)
	}
	if info.VersionID == "" {
		t.Fatal("no version id: is the bucket versioned?")
	}
	for i := range 3 {
		put(t, ctx, mc, "locked", fmt.Sprintf("d/free%d", i), "f")
	}
	c := newClient(t, target(s, "locked", s.AccessKey, s.SecretKey)).WithBucket("locked", "d/")

	// All versions plus one key outside the prefix, without the bypass.
	feed := func() <-chan Version {
		ch := make(chan Version)
		go func() {
			defer close(ch)
			_ = c.ListVersions(ctx, func(v Version) error { ch <- v; return nil })
			ch <- Version{Key: "elsewhere", VersionID: "x"}
		}()
		return ch
	}
	deleted, failed, err := c.DeleteVersions(ctx, feed(), DeleteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if deleted != 3 || len(failed) != 2 {
		t.Fatalf("deleted %d, failed %+v; want 3 and 2", deleted, failed)
	}
	slices.SortFunc(failed, func(a, b DeleteError) int { return strings.Compare(a.Key, b.Key) })
	if failed[0].Key != "d/held" || failed[0].VersionID != info.VersionID || failed[0].Err == nil || !strings.Contains(failed[0].Err.Error(), "object lock") {
		t.Fatalf("held version: %+v", failed[0])
	}
	if strings.Contains(failed[0].Error(), "d/held") || !strings.Contains(failed[0].Error(), KeyHash("d/held")) {
		t.Fatalf("a DeleteError names the key, not its hash: %v", failed[0])
	}
	if failed[1].Key != "elsewhere" || !errors.Is(failed[1].Err, ErrOutsidePrefix) {
		t.Fatalf("outside key: %+v", failed[1])
	}
	if _, err := mc.StatObject(ctx, "locked", "d/held", minio.StatObjectOptions{VersionID: info.VersionID}); err != nil {
		t.Fatalf("held version gone: %v", err)
	}

	// EmptyBucket fails, naming how many and the first by its key's hash.
	rm, err := c.EmptyBucket(ctx, DeleteOptions{})
	t.Logf("EmptyBucket without bypass: %v", err)
	if !errors.Is(err, ErrRetained) || !strings.Contains(err.Error(), ": 1 under") || !strings.Contains(err.Error(), KeyHash("d/held")) || strings.Contains(err.Error(), "d/held") {
		t.Fatalf("EmptyBucket without bypass: %v", err)
	}
	if rm.ExceptionCount != 1 || len(rm.Exceptions) != 1 || rm.Exceptions[0].Reason != ReasonGovernance || rm.Exceptions[0].VersionID != info.VersionID {
		t.Fatalf("EmptyBucket without bypass: %+v", rm)
	}
	// With the governance bypass the bucket goes.
	rm, err = c.WithBucket("locked", "").RemoveBucket(ctx, DeleteOptions{GovernanceBypass: true})
	if err != nil || !reflect.DeepEqual(rm, Removal{Versions: 1, Bytes: 1, BucketRemoved: true}) {
		t.Fatalf("remove with bypass: %+v, %v", rm, err)
	}
}
