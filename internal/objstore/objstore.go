package objstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"steward/internal/config"
	"steward/internal/keys"
)

// Target is one bucket (and key prefix) with resolved credentials.
type Target struct {
	// Host is host:port, without scheme.
	Host string
	// Secure uses HTTPS.
	Secure bool
	Bucket string
	// Prefix limits the objects seen to those under it ("" for all).
	Prefix string
	// Region is the configured region ("" when the config names none).
	Region    string
	AccessKey keys.Secret
	SecretKey keys.Secret
}

// TargetFrom builds a Target from the config and the resolved keys.
func TargetFrom(s *config.S3Target, access, secret keys.Secret) (Target, error) {
	host, secure, err := ParseEndpoint(s.Endpoint, s.Insecure)
	if err != nil {
		return Target{}, err
	}
	return Target{Host: host, Secure: secure, Bucket: s.Bucket, Prefix: s.Prefix, Region: s.Region, AccessKey: access, SecretKey: secret}, nil
}

// ParseEndpoint reads "host:port" or "http(s)://host[:port]". A bare host
// uses HTTPS unless insecure is set.
func ParseEndpoint(endpoint string, insecure bool) (host string, secure bool, err error) {
	if !strings.Contains(endpoint, "://") {
		return endpoint, !insecure, nil
	}
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return "", false, fmt.Errorf("endpoint %q: write host:port or https://host", endpoint)
	}
	return u.Host, u.Scheme == "https" && !insecure, nil
}

// URL is the endpoint as http(s)://host.
func (t Target) URL() string {
	if t.Secure {
		return "https://" + t.Host
	}
	return "http://" + t.Host
}

// String names the bucket for messages: "bucket \"b\" at host".
func (t Target) String() string { return fmt.Sprintf("bucket %q at %s", t.Bucket, t.Host) }

// Client is a minio-go client for one Target. Its region is left empty, so
// minio-go learns each bucket's region from the server.
type Client struct {
	t  Target
	mc *minio.Client
}

// Timeouts for one request; a dead endpoint fails fast instead of hanging.
const (
	dialTimeout   = 10 * time.Second
	headerTimeout = 30 * time.Second
	maxRetries    = 2
	// maxIdlePerHost is how many idle connections are kept per endpoint.
	maxIdlePerHost = 16
)

// New returns a client for t.
func New(t Target) (*Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = (&net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}).DialContext
	tr.ResponseHeaderTimeout = headerTimeout
	// Callers run several GETs at once (the backup's fetch pipeline); keep
	// their connections for reuse instead of the default two per host.
	tr.MaxIdleConnsPerHost = maxIdlePerHost
	mc, err := minio.New(t.Host, &minio.Options{
		Creds:        credentials.NewStaticV4(string(t.AccessKey.Reveal()), string(t.SecretKey.Reveal()), ""),
		Secure:       t.Secure,
		Region:       "", // the server answers, not the client's setting
		BucketLookup: minio.BucketLookupPath,
		Transport:    tr,
		MaxRetries:   maxRetries,
	})
	if err != nil {
		return nil, fmt.Errorf("s3 client for %s: %w", t.Host, err)
	}
	return &Client{t: t, mc: mc}, nil
}

// Target is the client's target.
func (c *Client) Target() Target { return c.t }

// BucketRegion asks the server where the bucket is (GetBucketLocation with
// an empty client region), then checks that the credentials may read the
// bucket, so that a refused request is not mistaken for a region.
func (c *Client) BucketRegion(ctx context.Context) (string, error) {
	region, err := c.mc.GetBucketLocation(ctx, c.t.Bucket)
	if err != nil {
		return "", c.classify(err)
	}
	if _, err := c.anyObject(ctx, minio.ListObjectsOptions{Prefix: c.t.Prefix, MaxKeys: 1}); err != nil {
		return "", err
	}
	return region, nil
}

// anyObject reports whether a listing with opts finds anything, reading
// at most its first entry; the listing stops when it returns.
func (c *Client) anyObject(ctx context.Context, opts minio.ListObjectsOptions) (bool, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops minio-go's listing goroutine
	obj, ok := <-c.mc.ListObjects(ctx, c.t.Bucket, opts)
	switch {
	case !ok:
		return false, nil
	case obj.Err != nil:
		return false, c.classify(obj.Err)
	}
	return true, nil
}

// classify turns a minio-go error into one of the package's sentinels,
// wrapped with the target and the server's own words.
func (c *Client) classify(err error) error {
	if err == nil {
		return nil
	}
	resp := minio.ToErrorResponse(err)
	switch resp.Code {
	case "NoSuchBucket":
		return fmt.Errorf("%s: %w: create it in an allowed region, or correct the bucket name", c.t, ErrNoSuchBucket)
	case "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidClientTokenId", "ExpiredToken":
		return fmt.Errorf("%s: %w (%s): check access_key and secret_key", c.t, ErrAccessDenied, resp.Code)
	}
	var ne net.Error
	var ue *url.Error
	isURL := errors.As(err, &ue) // first: a *url.Error is a net.Error too
	if isURL || errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		detail := err
		if ue != nil {
			// Not the URL: it may carry an object key (a GET, a listing's
			// marker), and keys are contract data.
			detail = fmt.Errorf("%s: %w", ue.Op, ue.Err)
		}
		return fmt.Errorf("%s: %w (%v): check the endpoint and that the server runs", c.t, ErrUnreachable, detail)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w within the deadline: check the endpoint", c.t, ErrUnreachable)
	}
	return fmt.Errorf("%s: %w", c.t, err)
}

// Object is one current object.
type Object struct {
	Key          string
	Size         int64
	ETag         string
	LastModified time.Time
	// ContentType and Metadata (the user metadata, x-amz-meta-* without
	// the prefix) are known from Open, not from List.
	ContentType string
	Metadata    map[string]string
}

// List calls fn for every current object under the prefix, in key order,
// without holding the listing in memory.
func (c *Client) List(ctx context.Context, fn func(Object) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops minio-go's listing goroutine on early return
	for obj := range c.mc.ListObjects(ctx, c.t.Bucket, minio.ListObjectsOptions{Prefix: c.t.Prefix, Recursive: true}) {
		if obj.Err != nil {
			return c.classify(obj.Err)
		}
		if err := fn(Object{Key: obj.Key, Size: obj.Size, ETag: obj.ETag, LastModified: obj.LastModified}); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// ErrObjectGone is returned by Open for an object deleted since it was
// listed.
var ErrObjectGone = errors.New("object no longer exists")

// Open streams one object with a single GET (minio-go's Object would
// first send a HEAD for Stat, and a GET on the first read). The size is the
// server's, read from the GET's headers before any byte. Reading the body
// to its end lets the connection be reused.
func (c *Client) Open(ctx context.Context, key string) (io.ReadCloser, Object, error) {
	body, st, _, err := minio.Core{Client: c.mc}.GetObject(ctx, c.t.Bucket, key, minio.GetObjectOptions{})
	if err != nil {
		if minio.ToErrorResponse(err).Code == "NoSuchKey" {
			return nil, Object{}, ErrObjectGone
		}
		return nil, Object{}, c.classify(err)
	}
	o := Object{Key: key, Size: st.Size, ETag: st.ETag, LastModified: st.LastModified, ContentType: st.ContentType}
	for k, v := range st.UserMetadata {
		if o.Metadata == nil {
			o.Metadata = map[string]string{}
		}
		o.Metadata[strings.ToLower(k)] = v
	}
	return body, o, nil
}

// HasObjects reports whether any object exists under prefix (e.g.
// "locks/" of a restic repository).
func (c *Client) HasObjects(ctx context.Context, prefix string) (bool, error) {
	return c.anyObject(ctx, minio.ListObjectsOptions{Prefix: prefix, Recursive: true, MaxKeys: 1})
}
