package testenv

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"steward/internal/catalog"
)

// SecretFile writes value to <dir>/<name>.secret (0600, with a trailing
// newline as an editor would leave it) and returns the config reference
// "file:<path>" to it.
func SecretFile(t testing.TB, dir, name, value string) string {
	t.Helper()
	p := filepath.Join(dir, name+".secret")
	if err := os.WriteFile(p, []byte(value+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return "file:" + p
}

// S3YAML is a config s3: block (indented for a list item) for bucket on
// server s, with access and secret written to secret files in dir.
func S3YAML(t testing.TB, dir string, s *S3Server, bucket, access, secret string) string {
	t.Helper()
	id := strings.ToLower(rand.Text()[:6])
	return fmt.Sprintf(`
    s3:
      endpoint: %s
      bucket: %s
      insecure: true
      access_key: %s
      secret_key: %s`, s.URL, bucket, SecretFile(t, dir, id+"-a", access), SecretFile(t, dir, id+"-s", secret))
}

// WriteFiles writes n files of size random bytes under dir, spread over
// three subdirectories.
func WriteFiles(t testing.TB, dir string, n, size int) {
	t.Helper()
	for i := 0; i < n; i++ {
		p := filepath.Join(dir, fmt.Sprintf("d%d", i%3), fmt.Sprintf("f%03d.bin", i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		b := make([]byte, size)
		rand.Read(b)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// AuditCount counts the audit records with action and result.
func AuditCount(t testing.TB, store catalog.AuditStore, action, result string) int {
	t.Helper()
	n := 0
	if err := store.ScanAudit(context.Background(), func(r catalog.AuditRecord) error {
		if r.Action == action && r.Result == result {
			n++
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return n
}
