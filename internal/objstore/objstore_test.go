package objstore

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"steward/internal/keys"
	"steward/internal/testenv"
)

func target(s *testenv.S3Server, bucket, access, secret string) Target {
	return Target{Host: s.Endpoint, Bucket: bucket, AccessKey: keys.Secret(access), SecretKey: keys.Secret(secret)}
}

func TestRegionListOpen(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tokyo := testenv.StartS3(t)
	us := testenv.StartS3(t, testenv.WithRegion("us-east-1"))
	for _, tt := range []struct {
		name string
		s    *testenv.S3Server
	}{{"tokyo", tokyo}, {"us", us}} {
		t.Run(tt.name, func(t *testing.T) {
			tt.s.MakeBucket(t, "data")
			mc := tt.s.Client(t)
			for _, k := range []string{"b/2", "a/1"} {
				if _, err := mc.PutObject(ctx, "data", k, bytes.NewReader([]byte("x"+k)), int64(len(k)+1), minio.PutObjectOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			c, err := New(target(tt.s, "data", tt.s.AccessKey, tt.s.SecretKey))
			if err != nil {
				t.Fatal(err)
			}
			region, err := c.BucketRegion(ctx)
			if err != nil || region != tt.s.Region {
				t.Fatalf("region %q, %v; want %q", region, err, tt.s.Region)
			}
			var keys []string
			if err := c.List(ctx, func(o Object) error { keys = append(keys, o.Key); return nil }); err != nil {
				t.Fatal(err)
			}
			if len(keys) != 2 || keys[0] != "a/1" {
				t.Fatalf("keys %v", keys)
			}
			rc, o, err := c.Open(ctx, "a/1")
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(rc)
			rc.Close()
			if string(b) != "xa/1" || o.Size != 4 {
				t.Fatalf("read %q size %d", b, o.Size)
			}
		})
	}
}

func TestProbeErrors(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s := testenv.StartS3(t)
	s.MakeBucket(t, "data")
	for _, tt := range []struct {
		name string
		t    Target
		want error
	}{
		{"no bucket", target(s, "nope", s.AccessKey, s.SecretKey), ErrNoSuchBucket},
		{"wrong secret", target(s, "data", s.AccessKey, "wrong"), ErrAccessDenied},
		{"unknown key", target(s, "data", "NOBODY", "wrong"), ErrAccessDenied},
		{"unreachable", Target{Host: "127.0.0.1:1", Bucket: "data", AccessKey: keys.Secret("a"), SecretKey: keys.Secret("b")}, ErrUnreachable},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(tt.t)
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			_, err = c.BucketRegion(ctx)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err %v, want %v", err, tt.want)
			}
			if d := time.Since(start); d > 20*time.Second {
				t.Fatalf("took %v", d)
			}
		})
	}
}
