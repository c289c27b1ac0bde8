package resticx_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"steward/internal/keys"
	"steward/internal/resticx"
	"steward/internal/testenv"
)

// TestS3KeysReachResticInAFile: restic opens S3 repositories with keys it
// reads from an AWS shared-credentials file on a memfd, never from its
// environment or argv — also keys holding '#', ';' and a backtick (which
// an unquoted ini value would cut), and also in `restic copy`, which opens
// two S3 repositories and so reads the file twice.
func TestS3KeysReachResticInAFile(t *testing.T) {
	ctx := context.Background()
	s3 := testenv.StartS3(t)
	s3.MakeBucket(t, "one")
	s3.MakeBucket(t, "two")
	access := "AK" + rand.Text()[:12]
	secret := "se#cr;et`" + rand.Text() + " x"
	s3.CreateUser(t, access, secret, testenv.RoleAdmin)

	state := t.TempDir()
	r := &resticx.Runner{Bin: bin(t), StateDir: state, Timeout: 2 * time.Minute}
	env := map[string]keys.Secret{"AWS_ACCESS_KEY_ID": keys.Secret(access), "AWS_SECRET_ACCESS_KEY": keys.Secret(secret), "AWS_DEFAULT_REGION": keys.Secret(s3.Region)}
	one := &resticx.Repository{Name: "one", Location: "s3:" + s3.URL + "/one", Password: keys.RandomSecret(32), Env: env}
	two := &resticx.Repository{Name: "two", Location: "s3:" + s3.URL + "/two", Password: keys.RandomSecret(32), Env: env}

	var (
		mu   sync.Mutex
		seen int
	)
	r.Started = func(pid int) {
		p := "/proc/" + strconv.Itoa(pid)
		environ, err1 := os.ReadFile(p + "/environ")
		cmdline, err2 := os.ReadFile(p + "/cmdline")
		if err1 != nil || err2 != nil || len(cmdline) == 0 {
			return // already gone: nothing to read
		}
		mu.Lock()
		defer mu.Unlock()
		seen++
		for name, v := range map[string]string{"access key": access, "secret key": secret} {
			if bytes.Contains(environ, []byte(v)) || bytes.Contains(cmdline, []byte(v)) {
				t.Errorf("the S3 %s is in restic's environment or argv", name)
			}
		}
		i := bytes.Index(environ, []byte("AWS_SHARED_CREDENTIALS_FILE=/dev/fd/"))
		if i < 0 || !bytes.Contains(environ, []byte("AWS_DEFAULT_REGION="+s3.Region)) {
			t.Errorf("restic's environment has no credentials file or no region: %q", environ)
			return
		}
		fd, _, _ := strings.Cut(string(environ[i+len("AWS_SHARED_CREDENTIALS_FILE=/dev/fd/"):]), "\x00")
		if link, err := os.Readlink(p + "/fd/" + fd); err == nil && !strings.HasPrefix(link, "/memfd:") {
			t.Errorf("restic's credentials file is %s, want a memfd", link)
		}
	}
	for _, repo := range []*resticx.Repository{one, two} {
		if err := r.Init(ctx, repo); err != nil {
			t.Fatalf("init %s: %v", repo.Name, err)
		}
	}
	if _, err := r.Run(ctx, one, resticx.Call{Args: []string{"backup", "--stdin", "--stdin-filename", "x"}, Stdin: strings.NewReader("data")}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Run(ctx, two, resticx.Call{Args: []string{"copy"}, From: one}); err != nil {
		t.Fatalf("copy between two S3 repositories: %v", err)
	}
	snaps, err := r.Snapshots(ctx, two)
	if err != nil || len(snaps) != 1 {
		t.Fatalf("the copy holds %d snapshots (%v), want 1", len(snaps), err)
	}
	if seen == 0 {
		t.Fatal("no restic process could be read while it ran: the test checked nothing")
	}
	// A wrong key is refused: restic used the file, not anonymous access.
	bad := *one
	bad.Env = map[string]keys.Secret{"AWS_ACCESS_KEY_ID": keys.Secret(access), "AWS_SECRET_ACCESS_KEY": keys.Secret("wrong"), "AWS_DEFAULT_REGION": keys.Secret(s3.Region)}
	if _, err := r.Snapshots(ctx, &bad); err == nil {
		t.Fatal("a wrong secret key opened the repository")
	}
	// Nothing on disk holds the keys.
	filepath.WalkDir(state, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if b, _ := os.ReadFile(p); bytes.Contains(b, []byte(secret)) {
				t.Errorf("the secret key is on disk in %s", p)
			}
		}
		return nil
	})
}

func bin(t *testing.T) string {
	t.Helper()
	dir, _ := os.Getwd()
	b, _, err := resticx.Find(context.Background(), filepath.Join(dir, "..", "..", "bin", "restic"))
	if err != nil {
		t.Fatalf("restic is needed for this test: %v", err)
	}
	return b
}
