package testenv

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/signer"
)

// DefaultRegion is the region StartS3 serves unless WithRegion says
// otherwise: the region Steward's residency rules allow by default.
const DefaultRegion = "ap-northeast-1"

// Roles for CreateUser, as versitygw's admin API names them.
const (
	RoleUser     = "user"
	RoleUserPlus = "userplus"
	RoleAdmin    = "admin"
)

// S3Option changes how StartS3 starts the server.
type S3Option func(*s3Options)

type s3Options struct {
	region string
}

// WithRegion makes the server serve region instead of DefaultRegion (for
// residency tests: a server in us-east-1 must be refused).
func WithRegion(region string) S3Option {
	return func(o *s3Options) { o.region = region }
}

// S3Server is a running versitygw with the posix backend. Its fields are
// fixed for the life of the server, across Stop and Restart.
type S3Server struct {
	Endpoint      string // host:port of the S3 API, always on 127.0.0.1
	URL           string // "http://" + Endpoint
	AdminEndpoint string // host:port of the admin API (users)
	AdminURL      string // "http://" + AdminEndpoint
	AccessKey     string // root user, random per server
	SecretKey     string
	Region        string
	Dir           string // root/ (buckets), versions/, iam/ and the log
	LogPath       string // the server's stdout and stderr, kept over restarts

	t   testing.TB
	bin string

	mu   sync.Mutex
	proc *process // nil while stopped
}

// StartS3 starts a versitygw on free loopback ports with a posix backend
// in a temp dir, versioning enabled and the internal IAM, waits until it
// answers and stops it when the test ends. It fails the test when the
// binary is missing or the server does not come up.
func StartS3(t testing.TB, opts ...S3Option) *S3Server {
	t.Helper()
	o := s3Options{region: DefaultRegion}
	for _, opt := range opts {
		opt(&o)
	}
	bin := Bin(t, "versitygw")

	dir := t.TempDir()
	for _, sub := range []string{"root", "versions", "iam"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o700); err != nil {
			t.Fatalf("testenv: s3 dir: %v", err)
		}
	}
	s := &S3Server{
		AccessKey: "ROOT" + rand.Text()[:16],
		SecretKey: rand.Text(),
		Region:    o.region,
		Dir:       dir,
		LogPath:   filepath.Join(dir, "versitygw.log"),
		t:         t,
		bin:       bin,
	}
	// Registered after t.TempDir, so it runs before the dir is removed.
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("testenv: versitygw log\n%s", logTail(s.LogPath))
		}
		s.Stop()
	})

	var err error
	for try := 1; try <= startTries; try++ {
		if err = s.pickPorts(); err != nil {
			break
		}
		if err = s.start(); err == nil {
			return s
		}
		if !addrInUse(s.LogPath) {
			break
		}
	}
	t.Fatalf("testenv: start versitygw: %v\n%s", err, logTail(s.LogPath))
	return nil
}

func (s *S3Server) pickPorts() error {
	ports, err := freePorts(2)
	if err != nil {
		return err
	}
	s.Endpoint, s.AdminEndpoint = loopback(ports[0]), loopback(ports[1])
	s.URL, s.AdminURL = "http://"+s.Endpoint, "http://"+s.AdminEndpoint
	return nil
}

// start runs the server on the chosen ports and waits until it answers.
// On failure the process has been stopped.
func (s *S3Server) start() error {
	cmd := exec.Command(s.bin,
		"--port", s.Endpoint,
		"--admin-port", s.AdminEndpoint,
		"--region", s.Region,
		"--iam-dir", filepath.Join(s.Dir, "iam"),
		"posix",
		"--versioning-dir", filepath.Join(s.Dir, "versions"),
		filepath.Join(s.Dir, "root"),
	)
	// The root credentials go through the environment, never argv.
	cmd.Env = baseEnv("HOME="+s.Dir,
		"ROOT_ACCESS_KEY_ID="+s.AccessKey,
		"ROOT_SECRET_ACCESS_KEY="+s.SecretKey)
	cmd.Dir = s.Dir
	cmd.SysProcAttr = sysProcAttr(syscall.SIGKILL, nil)
	p, err := startProcess("versitygw", cmd, s.LogPath)
	if err != nil {
		return err
	}
	client, err := s.newClient(s.AccessKey, s.SecretKey, s.Region)
	if err != nil {
		_ = p.kill()
		return err
	}
	err = p.waitReady(func(ctx context.Context) error {
		if _, err := client.ListBuckets(ctx); err != nil {
			return fmt.Errorf("list buckets: %w", err)
		}
		if !portOpen(s.AdminEndpoint) {
			return fmt.Errorf("admin port %s closed", s.AdminEndpoint)
		}
		return nil
	})
	if err != nil {
		_ = p.kill()
		return err
	}
	s.mu.Lock()
	s.proc = p
	s.mu.Unlock()
	return nil
}

// Stop stops the server: SIGTERM, SIGKILL after a grace period, and waits
// until the process is gone. Stopping a stopped server does nothing. It
// may be called from any goroutine, e.g. to cut a transfer off midway.
func (s *S3Server) Stop() { s.halt(syscall.SIGTERM) }

// Kill stops the server with SIGKILL at once, like a crash or power loss.
func (s *S3Server) Kill() { s.halt(syscall.SIGKILL) }

func (s *S3Server) halt(sig syscall.Signal) {
	s.mu.Lock()
	p := s.proc
	s.proc = nil
	s.mu.Unlock()
	if p == nil {
		return
	}
	var err error
	if sig == syscall.SIGKILL {
		err = p.kill()
	} else {
		err = p.stop(sig)
	}
	if err != nil {
		s.t.Errorf("testenv: stop versitygw: %v", err)
	}
}

// Restart stops the server if it runs and starts it again on the same
// ports, directories and keys, so buckets, objects and users survive.
// Call it from the test's goroutine: it fails the test when the server
// does not come back.
func (s *S3Server) Restart() {
	s.t.Helper()
	s.Stop()
	if err := s.start(); err != nil {
		s.t.Fatalf("testenv: restart versitygw: %v\n%s", err, logTail(s.LogPath))
	}
}

// Running reports whether the server process is up (not whether it
// answers).
func (s *S3Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.proc != nil && !s.proc.exited()
}

// Client returns a client for the root user, set to the server's region.
func (s *S3Server) Client(t testing.TB) *minio.Client {
	t.Helper()
	return s.ClientAs(t, s.AccessKey, s.SecretKey)
}

// ClientAs returns a client for another user (see CreateUser).
func (s *S3Server) ClientAs(t testing.TB, access, secret string) *minio.Client {
	t.Helper()
	c, err := s.newClient(access, secret, s.Region)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return c
}

// newClient makes a path-style client; region "" makes minio-go ask the
// server for each bucket's location.
func (s *S3Server) newClient(access, secret, region string) (*minio.Client, error) {
	c, err := minio.New(s.Endpoint, &minio.Options{
		Creds:        credentials.NewStaticV4(access, secret, ""),
		Region:       region,
		BucketLookup: minio.BucketLookupPath,
	})
	if err != nil {
		return nil, fmt.Errorf("s3 client for %s: %w", s.Endpoint, err)
	}
	return c, nil
}

// BucketOption changes how MakeBucket makes a bucket.
type BucketOption func(*bucketOptions)

type bucketOptions struct {
	versioning bool
	objectLock bool
}

// WithVersioning turns versioning on for the new bucket.
func WithVersioning() BucketOption {
	return func(o *bucketOptions) { o.versioning = true }
}

// WithObjectLock makes the bucket with object lock enabled (which also
// turns versioning on).
func WithObjectLock() BucketOption {
	return func(o *bucketOptions) { o.objectLock = true }
}

// MakeBucket makes a bucket in the server's region as the root user.
func (s *S3Server) MakeBucket(t testing.TB, name string, opts ...BucketOption) {
	t.Helper()
	var o bucketOptions
	for _, opt := range opts {
		opt(&o)
	}
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	c := s.Client(t)
	err := c.MakeBucket(ctx, name, minio.MakeBucketOptions{Region: s.Region, ObjectLocking: o.objectLock})
	if err != nil {
		t.Fatalf("testenv: make bucket %q: %v", name, err)
	}
	if o.versioning && !o.objectLock {
		if err := c.EnableVersioning(ctx, name); err != nil {
			t.Fatalf("testenv: enable versioning on bucket %q: %v", name, err)
		}
	}
}

// CreateUser adds a user with its own access key through the admin API
// (role is RoleUser, RoleUserPlus or RoleAdmin). The secret travels in the
// signed request body, never in a command line.
func (s *S3Server) CreateUser(t testing.TB, access, secret, role string) {
	t.Helper()
	body, err := xml.Marshal(adminAccount{Access: access, Secret: secret, Role: role})
	if err != nil {
		t.Fatalf("testenv: create user %q: %v", access, err)
	}
	if err := s.admin("create-user", nil, body); err != nil {
		t.Fatalf("testenv: create user %q: %v", access, err)
	}
}

// DeleteUser removes a user's access key through the admin API.
func (s *S3Server) DeleteUser(t testing.TB, access string) {
	t.Helper()
	if err := s.admin("delete-user", url.Values{"access": {access}}, nil); err != nil {
		t.Fatalf("testenv: delete user %q: %v", access, err)
	}
}

// adminAccount is the body of versitygw's create-user call.
type adminAccount struct {
	XMLName   xml.Name `xml:"Account"`
	Access    string
	Secret    string
	Role      string
	UserID    int
	GroupID   int
	ProjectID int
}

// admin calls one of versitygw's admin operations: a PATCH signed with
// the root credentials (SigV4, service s3, the server's region).
func (s *S3Server) admin(op string, query url.Values, body []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	u := s.AdminURL + "/" + op
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPatch, u, bytes.NewReader(body))
	if err != nil {
		return err
	}
	sum := sha256.Sum256(body)
	req.Header.Set("X-Amz-Content-Sha256", hex.EncodeToString(sum[:]))
	req = signer.SignV4(*req, s.AccessKey, s.SecretKey, "", s.Region)
	resp, err := (&http.Client{Timeout: callTimeout}).Do(req)
	if err != nil {
		return fmt.Errorf("admin %s: %w", op, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode >= 300 {
		return fmt.Errorf("admin %s: %s: %s", op, resp.Status, bytes.TrimSpace(msg))
	}
	return nil
}

// PID returns the server's process id, or 0 while stopped (benchmarks
// read its CPU time).
func (s *S3Server) PID() int { return s.pid() }

// pid returns the server's process id, or 0 while stopped.
func (s *S3Server) pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return 0
	}
	return s.proc.pid()
}
