package objstore

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"steward/internal/testenv"
)

// fill puts n objects prefix+"%05d", each body, with 8 PUTs at once.
func fill(t testing.TB, ctx context.Context, mc *minio.Client, bucket, prefix string, n int, body string) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < n; i += 8 {
				k := fmt.Sprintf("%s%05d", prefix, i)
				if _, err := mc.PutObject(ctx, bucket, k, strings.NewReader(body), int64(len(body)), minio.PutObjectOptions{}); err != nil {
					errs <- fmt.Errorf("put %s: %w", k, err)
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
}

// leftovers lists what the root key still sees in the bucket: versions,
// delete markers and unfinished uploads (a missing bucket: none, gone).
func leftovers(t *testing.T, ctx context.Context, mc *minio.Client, bucket string) (n int, gone bool) {
	t.Helper()
	if ok, err := mc.BucketExists(ctx, bucket); err != nil || !ok {
		if err != nil && minio.ToErrorResponse(err).Code != "NoSuchBucket" {
			t.Fatalf("bucket exists: %v", err)
		}
		return 0, true
	}
	for o := range mc.ListObjects(ctx, bucket, minio.ListObjectsOptions{Recursive: true, WithVersions: true}) {
		if o.Err != nil {
			t.Fatalf("root listing: %v", o.Err)
		}
		n++
	}
	for u := range mc.ListIncompleteUploads(ctx, bucket, "", true) {
		if u.Err != nil {
			t.Fatalf("root upload listing: %v", u.Err)
		}
		n++
	}
	return n, false
}

// grepDirs reports the files under dirs whose name or bytes hold marker.
func grepDirs(t *testing.T, marker string, dirs ...string) []string {
	t.Helper()
	var hits []string
	for _, dir := range dirs {
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if strings.Contains(d.Name(), marker) {
				hits = append(hits, p)
			}
			if d.Type().IsRegular() {
				b, err := os.ReadFile(p)
				if err != nil {
					return err
				}
				if bytes.Contains(b, []byte(marker)) {
					hits = append(hits, p)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return hits
}

// TestPurge: a versioned bucket with several versions per key, a delete
// marker, an unfinished multipart upload with a part, and more keys than
// several DeleteObjects requests carry: Purge deletes all of it and the
// bucket, so that the root key finds nothing and a marker planted in the
// data is nowhere in the server's directories; a second Purge is success,
// "already absent".
func TestPurge(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	s := testenv.StartS3(t)
	s.MakeBucket(t, "contract", testenv.WithVersioning())
	mc := s.Client(t)
	marker := "PLANTED-" + rand.Text()

	// contract data/a: 3 versions; data/b: 2, then a delete marker;
	// 2,500 more keys; an upload with one part.
	var bytesIn int64
	for i := range 3 {
		body := fmt.Sprintf("%s a%d", marker, i)
		put(t, ctx, mc, "contract", "data/"+marker+"/a", body)
		bytesIn += int64(len(body))
	}
	for i := range 2 {
		body := fmt.Sprintf("%s b%d", marker, i)
		put(t, ctx, mc, "contract", "data/b", body)
		bytesIn += int64(len(body))
	}
	if err := mc.RemoveObject(ctx, "contract", "data/b", minio.RemoveObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	const many = 2500
	fill(t, ctx, mc, "contract", "many/", many, marker)
	bytesIn += many * int64(len(marker))
	core := minio.Core{Client: mc}
	id, err := core.NewMultipartUpload(ctx, "contract", "data/mp", minio.PutObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	part := strings.Repeat(marker, 1000)
	if _, err := core.PutObjectPart(ctx, "contract", "data/mp", id, 1, strings.NewReader(part), int64(len(part)), minio.PutObjectPartOptions{}); err != nil {
		t.Fatal(err)
	}
	if hits := grepDirs(t, marker, s.Dir); len(hits) == 0 {
		t.Fatal("the planted marker is not in the server's directories: the grep below would prove nothing")
	}

	c := newClient(t, target(s, "contract", s.AccessKey, s.SecretKey))
	listed := map[string]int64{}
	if err := c.ListVersions(ctx, func(v Version) error {
		listed[v.Key+"\x00"+v.VersionID] = v.Size
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	recorded := map[string]int64{}
	var calls int
	var last Removal
	rm, err := c.Purge(ctx, PurgeOptions{RemoveBucket: true, Deleted: func(v Version) error {
		k := v.Key + "\x00" + v.VersionID
		if _, dup := recorded[k]; dup {
			t.Errorf("version %q of %q recorded twice", v.VersionID, v.Key)
		}
		recorded[k] = v.Size
		return nil
	}, Progress: func(r Removal) {
		if r.Versions < last.Versions || r.DeleteMarkers < last.DeleteMarkers || r.Bytes < last.Bytes || r.Exceptions != nil {
			t.Errorf("progress went back or carries exceptions: %+v after %+v", r, last)
		}
		calls++
		last = r
	}})
	if err != nil {
		t.Fatal(err)
	}
	want := Removal{Versions: 5 + many, DeleteMarkers: 1, UnfinishedUploads: 1, Bytes: bytesIn, BucketRemoved: true}
	if !equalRemoval(rm, want) {
		t.Fatalf("removal %+v, want %+v", rm, want)
	}
	// The evidence's object list: every version and marker listed
	// before, each once, with its size.
	if !reflect.DeepEqual(recorded, listed) || len(recorded) != want.Versions+want.DeleteMarkers {
		t.Fatalf("Deleted saw %d versions, %d were listed before the purge", len(recorded), len(listed))
	}
	if calls < 4 || !equalRemoval(last, Removal{Versions: want.Versions, DeleteMarkers: 1, UnfinishedUploads: 1, Bytes: bytesIn}) {
		t.Fatalf("progress: %d calls, last %+v", calls, last)
	}

	// Checks that do not use Purge's code: the root key, the filesystem.
	if n, gone := leftovers(t, ctx, mc, "contract"); !gone || n != 0 {
		t.Fatalf("root key sees %d entries, bucket gone %v", n, gone)
	}
	if hits := grepDirs(t, marker, filepath.Join(s.Dir, "root"), filepath.Join(s.Dir, "versions")); len(hits) > 0 {
		t.Fatalf("the planted marker is still in %v", hits)
	}

	// Again: nothing there, success.
	rm, err = c.Purge(ctx, PurgeOptions{RemoveBucket: true})
	if err != nil || !equalRemoval(rm, Removal{AlreadyAbsent: true}) {
		t.Fatalf("second purge: %+v, %v", rm, err)
	}
}

func equalRemoval(a, b Removal) bool { return reflect.DeepEqual(a, b) }

// TestPurgePrefix: a purge under a prefix leaves the rest of the bucket
// and the bucket; run twice, the second deletes nothing.
func TestPurgePrefix(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s := testenv.StartS3(t)
	s.MakeBucket(t, "shared", testenv.WithVersioning())
	mc := s.Client(t)
	put(t, ctx, mc, "shared", "contract-1/x", "one")
	put(t, ctx, mc, "shared", "contract-1/x", "two")
	put(t, ctx, mc, "shared", "contract-2/x", "keep")
	c := newClient(t, target(s, "shared", s.AccessKey, s.SecretKey)).WithBucket("shared", "contract-1/")
	if _, err := c.Purge(ctx, PurgeOptions{RemoveBucket: true}); err == nil || !strings.Contains(err.Error(), "prefix") {
		t.Fatalf("removing the bucket through a prefix: %v", err)
	}
	for i, want := range []Removal{{Versions: 2, Bytes: 6}, {}} {
		rm, err := c.Purge(ctx, PurgeOptions{})
		if err != nil || !equalRemoval(rm, want) {
			t.Fatalf("purge %d: %+v, %v; want %+v", i+1, rm, err, want)
		}
	}
	if n, gone := leftovers(t, ctx, mc, "shared"); gone || n != 1 {
		t.Fatalf("left %d, gone %v; want contract-2/x", n, gone)
	}
}

// TestPurgeServerStopped: the server stops mid-purge; Purge fails naming
// the step and saying the endpoint does not answer; after a restart a
// second Purge completes.
func TestPurgeServerStopped(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	s := testenv.StartS3(t)
	s.MakeBucket(t, "contract", testenv.WithVersioning())
	mc := s.Client(t)
	const n = 6000
	fill(t, ctx, mc, "contract", "k/", n, "x")

	c := newClient(t, target(s, "contract", s.AccessKey, s.SecretKey))
	stopped := false
	first, err := c.Purge(ctx, PurgeOptions{RemoveBucket: true, Progress: func(r Removal) {
		if r.Versions >= 1000 && !stopped {
			stopped = true
			s.Stop() // from the purge's own goroutine: no request is answered after this
		}
	}})
	t.Logf("purge with the server stopped: %+v: %v", first, err)
	if !stopped {
		t.Fatal("the server was not stopped")
	}
	if !errors.Is(err, ErrUnreachable) || (!strings.HasPrefix(err.Error(), stepDelete+": ") && !strings.HasPrefix(err.Error(), stepList+": ")) || first.BucketRemoved {
		t.Fatalf("purge with the server stopped: %+v, %v", first, err)
	}
	if first.Versions < 1000 || first.Versions >= n {
		t.Fatalf("first purge deleted %d", first.Versions)
	}

	s.Restart()
	second, err := c.Purge(ctx, PurgeOptions{RemoveBucket: true})
	if err != nil || !second.BucketRemoved {
		t.Fatalf("purge after the restart: %+v, %v", second, err)
	}
	// A request the server carried out but did not answer is counted by
	// neither run.
	if sum := first.Versions + second.Versions; sum > n || sum < n-deleteWorkers*deleteBatch {
		t.Fatalf("deleted %d + %d of %d", first.Versions, second.Versions, n)
	}
	if left, gone := leftovers(t, ctx, mc, "contract"); !gone || left != 0 {
		t.Fatalf("root key sees %d entries, bucket gone %v", left, gone)
	}
}

// TestPurgeObjectLock: versions under compliance retention or a legal
// hold stay, as exceptions named by their key's hash; governance
// retention yields only to the bypass; a bucket default retention is
// reported as such. Everything else goes.
func TestPurgeObjectLock(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s := testenv.StartS3(t)
	s.MakeBucket(t, "locked", testenv.WithObjectLock())
	mc := s.Client(t)
	until := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	versionOf := map[string]string{}
	for _, tt := range []struct {
		key  string
		opts minio.PutObjectOptions
	}{
		{"comp", minio.PutObjectOptions{Mode: minio.Compliance, RetainUntilDate: until}},
		{"gov", minio.PutObjectOptions{Mode: minio.Governance, RetainUntilDate: until}},
		{"hold", minio.PutObjectOptions{LegalHold: minio.LegalHoldEnabled}},
		{"free", minio.PutObjectOptions{}},
		{"free", minio.PutObjectOptions{}},
	} {
		info, err := mc.PutObject(ctx, "locked", tt.key, strings.NewReader("v"), 1, tt.opts)
		if err != nil {
			t.Fatalf("put %s: %v", tt.key, err)
		}
		versionOf[tt.key] = info.VersionID
	}
	if err := mc.RemoveObject(ctx, "locked", "free", minio.RemoveObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	c := newClient(t, target(s, "locked", s.AccessKey, s.SecretKey))

	check := func(t *testing.T, rm Removal, err error, wantDeleted Removal, want map[string]string) {
		t.Helper()
		if !errors.Is(err, ErrRetained) || rm.BucketRemoved {
			t.Fatalf("purge: %+v, %v", rm, err)
		}
		for k := range versionOf {
			if strings.Contains(err.Error(), "\""+k+"\"") {
				t.Fatalf("the error names a key: %v", err)
			}
		}
		got := map[string]string{}
		for _, e := range rm.Exceptions {
			for k, id := range versionOf {
				if e.KeySHA256 == KeyHash(k) && e.VersionID == id {
					got[k] = e.Reason
				}
			}
			if e.Reason == ReasonCompliance && !e.RetainUntil.Equal(until) {
				t.Errorf("compliance retained until %v, want %v", e.RetainUntil, until)
			}
		}
		if rm.ExceptionCount != len(want) || len(got) != len(want) {
			t.Fatalf("exceptions %+v; want %v", rm.Exceptions, want)
		}
		for k, r := range want {
			if got[k] != r {
				t.Fatalf("exception of %s: %q, want %q (all: %+v)", k, got[k], r, rm.Exceptions)
			}
		}
		rm.ExceptionCount, rm.Exceptions = 0, nil
		if !equalRemoval(rm, wantDeleted) {
			t.Fatalf("deleted %+v, want %+v", rm, wantDeleted)
		}
	}

	// Without the bypass: compliance, governance and the hold stay.
	rm, err := c.Purge(ctx, PurgeOptions{RemoveBucket: true})
	t.Logf("without the bypass: %v", err)
	check(t, rm, err, Removal{Versions: 2, DeleteMarkers: 1, Bytes: 2},
		map[string]string{"comp": ReasonCompliance, "gov": ReasonGovernance, "hold": ReasonLegalHold})

	// With it, the governance-retained version goes.
	rm, err = c.Purge(ctx, PurgeOptions{RemoveBucket: true, GovernanceBypass: true})
	check(t, rm, err, Removal{Versions: 1, Bytes: 1},
		map[string]string{"comp": ReasonCompliance, "hold": ReasonLegalHold})

	// The hold lifted, only the compliance-retained version stays.
	off := minio.LegalHoldDisabled
	if err := mc.PutObjectLegalHold(ctx, "locked", "hold", minio.PutObjectLegalHoldOptions{VersionID: versionOf["hold"], Status: &off}); err != nil {
		t.Fatal(err)
	}
	rm, err = c.Purge(ctx, PurgeOptions{RemoveBucket: true, GovernanceBypass: true})
	check(t, rm, err, Removal{Versions: 1, Bytes: 1}, map[string]string{"comp": ReasonCompliance})
	if n, gone := leftovers(t, ctx, mc, "locked"); gone || n != 1 {
		t.Fatalf("root key sees %d entries, bucket gone %v; want the compliance-retained version", n, gone)
	}

	// A bucket default retention (versitygw does not stamp it on each
	// object) holds versions that carry no lock of their own.
	s.MakeBucket(t, "defaulted", testenv.WithObjectLock())
	comp, days := minio.Compliance, uint(1)
	unit := minio.Days
	if err := mc.SetObjectLockConfig(ctx, "defaulted", &comp, &days, &unit); err != nil {
		t.Fatal(err)
	}
	info, err := mc.PutObject(ctx, "defaulted", "d", strings.NewReader("v"), 1, minio.PutObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rm, err = c.WithBucket("defaulted", "").Purge(ctx, PurgeOptions{RemoveBucket: true, GovernanceBypass: true})
	if !errors.Is(err, ErrRetained) || rm.ExceptionCount != 1 || rm.Exceptions[0].Reason != ReasonBucketCompliance || rm.Exceptions[0].VersionID != info.VersionID {
		t.Fatalf("bucket default: %+v, %v", rm, err)
	}
}
