package testenv

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/signer"
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func TestS3BucketRoundTrip(t *testing.T) {
	start := time.Now()
	s := StartS3(t)
	t.Logf("StartS3 took %s", time.Since(start))
	for _, addr := range []string{s.Endpoint, s.AdminEndpoint} {
		if host, _, _ := net.SplitHostPort(addr); host != "127.0.0.1" {
			t.Fatalf("server listens on %s, want 127.0.0.1 only", addr)
		}
	}
	if s.Region != DefaultRegion {
		t.Fatalf("Region = %q, want %q", s.Region, DefaultRegion)
	}

	ctx := testCtx(t)
	const bucket, key = "roundtrip", "contracts/2026/a.txt"
	s.MakeBucket(t, bucket, WithVersioning())
	c := s.Client(t)
	if v, err := c.GetBucketVersioning(ctx, bucket); err != nil || !v.Enabled() {
		t.Fatalf("versioning = %+v, %v; want enabled", v, err)
	}

	put := func(body string) minio.UploadInfo {
		t.Helper()
		info, err := c.PutObject(ctx, bucket, key, strings.NewReader(body), int64(len(body)), minio.PutObjectOptions{})
		if err != nil {
			t.Fatalf("put %q: %v", body, err)
		}
		return info
	}
	get := func(opts minio.GetObjectOptions) string {
		t.Helper()
		obj, err := c.GetObject(ctx, bucket, key, opts)
		if err != nil {
			t.Fatalf("get: %v", err)
		}
		defer obj.Close()
		b, err := io.ReadAll(obj)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		return string(b)
	}
	first := put("first version")
	if got := get(minio.GetObjectOptions{}); got != "first version" {
		t.Fatalf("get = %q, want %q", got, "first version")
	}
	put("second version")
	if got := get(minio.GetObjectOptions{}); got != "second version" {
		t.Fatalf("get after overwrite = %q", got)
	}
	if got := get(minio.GetObjectOptions{VersionID: first.VersionID}); got != "first version" {
		t.Fatalf("get version %s = %q", first.VersionID, got)
	}

	versions := listVersions(t, c, bucket)
	if len(versions) != 2 {
		t.Fatalf("versions after overwrite = %d (%v), want 2", len(versions), versions)
	}
	if err := c.RemoveObject(ctx, bucket, key, minio.RemoveObjectOptions{}); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, err := c.StatObject(ctx, bucket, key, minio.StatObjectOptions{}); minio.ToErrorResponse(err).Code != minio.NoSuchKey {
		t.Fatalf("stat after delete: %v, want NoSuchKey", err)
	}
	for _, v := range listVersions(t, c, bucket) { // two versions and the delete marker
		if err := c.RemoveObject(ctx, bucket, key, minio.RemoveObjectOptions{VersionID: v.VersionID}); err != nil {
			t.Fatalf("delete version %s: %v", v.VersionID, err)
		}
	}
	if v := listVersions(t, c, bucket); len(v) != 0 {
		t.Fatalf("versions after deleting every version = %v", v)
	}
	if err := c.RemoveBucket(ctx, bucket); err != nil {
		t.Fatalf("remove bucket: %v", err)
	}
}

func listVersions(t *testing.T, c *minio.Client, bucket string) []minio.ObjectInfo {
	t.Helper()
	var out []minio.ObjectInfo
	for obj := range c.ListObjects(testCtx(t), bucket, minio.ListObjectsOptions{WithVersions: true, Recursive: true}) {
		if obj.Err != nil {
			t.Fatalf("list versions: %v", obj.Err)
		}
		out = append(out, obj)
	}
	return out
}

func TestS3Region(t *testing.T) {
	tests := []struct {
		name string
		opts []S3Option
		want string
		// The raw answer: like AWS, us-east-1 is the empty constraint.
		wantConstraint string
	}{
		{"default", nil, "ap-northeast-1", "ap-northeast-1"},
		{"us-east-1", []S3Option{WithRegion("us-east-1")}, "us-east-1", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := StartS3(t, tt.opts...)
			s.MakeBucket(t, "where")
			// Region left empty: minio-go asks the server.
			c, err := minio.New(s.Endpoint, &minio.Options{
				Creds:        credentials.NewStaticV4(s.AccessKey, s.SecretKey, ""),
				BucketLookup: minio.BucketLookupPath,
			})
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.GetBucketLocation(testCtx(t), "where")
			if err != nil || got != tt.want {
				t.Fatalf("GetBucketLocation = %q, %v; want %q", got, err, tt.want)
			}
			// minio-go learns the region from the error to a request signed
			// for us-east-1; ask with the right region for the answer itself.
			if got := locationConstraint(t, s, "where"); got != tt.wantConstraint {
				t.Fatalf("LocationConstraint = %q, want %q", got, tt.wantConstraint)
			}
		})
	}
}

// locationConstraint asks for a bucket's location with a request signed
// for the server's own region and returns the body's LocationConstraint.
func locationConstraint(t *testing.T, s *S3Server, bucket string) string {
	t.Helper()
	req, err := http.NewRequestWithContext(testCtx(t), http.MethodGet, s.URL+"/"+bucket+"/?location=", nil)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(nil)
	req.Header.Set("X-Amz-Content-Sha256", hex.EncodeToString(sum[:]))
	req = signer.SignV4(*req, s.AccessKey, s.SecretKey, "", s.Region)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("get bucket location: %s: %s", resp.Status, body)
	}
	var loc string
	if err := xml.Unmarshal(body, &loc); err != nil {
		t.Fatalf("parse %q: %v", body, err)
	}
	return loc
}

func TestS3RefusesWrongRegion(t *testing.T) {
	s := StartS3(t)
	s.MakeBucket(t, "tokyo")
	c, err := minio.New(s.Endpoint, &minio.Options{
		Creds:        credentials.NewStaticV4(s.AccessKey, s.SecretKey, ""),
		Region:       "us-east-1",
		BucketLookup: minio.BucketLookupPath,
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.PutObject(testCtx(t), "tokyo", "x", strings.NewReader("x"), 1, minio.PutObjectOptions{})
	if err == nil {
		t.Fatal("put signed for us-east-1 to an ap-northeast-1 server succeeded")
	}
	t.Logf("wrong region refused: %v", err)
}

func TestS3StopRestartKill(t *testing.T) {
	s := StartS3(t)
	s.MakeBucket(t, "kept")
	ctx := testCtx(t)
	if _, err := s.Client(t).PutObject(ctx, "kept", "k", bytes.NewReader([]byte("v")), 1, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	s.Stop()
	t.Logf("Stop took %s", time.Since(start))
	if s.Running() {
		t.Fatal("Running after Stop")
	}
	for _, addr := range []string{s.Endpoint, s.AdminEndpoint} {
		if portOpen(addr) {
			t.Fatalf("%s still accepts connections after Stop", addr)
		}
	}
	s.Stop() // idempotent

	start = time.Now()
	s.Restart()
	t.Logf("Restart took %s", time.Since(start))
	if _, err := s.Client(t).StatObject(ctx, "kept", "k", minio.StatObjectOptions{}); err != nil {
		t.Fatalf("object after restart: %v", err)
	}

	s.Kill()
	if portOpen(s.Endpoint) {
		t.Fatalf("%s still accepts connections after Kill", s.Endpoint)
	}
	s.Restart()
	if _, err := s.Client(t).StatObject(ctx, "kept", "k", minio.StatObjectOptions{}); err != nil {
		t.Fatalf("object after kill and restart: %v", err)
	}
}

func TestS3Users(t *testing.T) {
	s := StartS3(t)
	s.MakeBucket(t, "shared")
	const access, secret = "special-account", "special-secret-0123456789"
	s.CreateUser(t, access, secret, RoleUser)

	ctx := testCtx(t)
	c := s.ClientAs(t, access, secret)
	if _, err := c.ListBuckets(ctx); err != nil {
		t.Fatalf("new user lists buckets: %v", err)
	}
	s.DeleteUser(t, access)
	_, err := c.ListBuckets(ctx)
	if code := minio.ToErrorResponse(err).Code; code != minio.InvalidAccessKeyID {
		t.Fatalf("deleted user lists buckets: %v (code %q), want %s", err, code, minio.InvalidAccessKeyID)
	}
}

func TestS3ObjectLockBucket(t *testing.T) {
	s := StartS3(t)
	s.MakeBucket(t, "locked", WithObjectLock())
	enabled, _, _, _, err := s.Client(t).GetObjectLockConfig(testCtx(t), "locked")
	if err != nil || enabled != "Enabled" {
		t.Fatalf("object lock = %q, %v; want Enabled", enabled, err)
	}
}
