package restore

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"steward/internal/testenv"
)

// TestBucketRestoreKeepsTypeAndMetadata: an object's Content-Type and user
// metadata travel in the snapshot's archive and come back with a restore
// into a bucket.
func TestBucketRestoreKeepsTypeAndMetadata(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	s3 := testenv.StartS3(t)
	s3.MakeBucket(t, "attachments")
	mc := s3.Client(t)
	put := func(key, ct string, meta map[string]string) {
		t.Helper()
		body := "content of " + key
		if _, err := mc.PutObject(ctx, "attachments", key, strings.NewReader(body), int64(len(body)),
			minio.PutObjectOptions{ContentType: ct, UserMetadata: meta}); err != nil {
			t.Fatal(err)
		}
	}
	put("case-1/report.pdf", "application/pdf", map[string]string{"Case-Id": "C-0001", "Officer": "sato"})
	put("case-2/notes.txt", "text/plain; charset=utf-8", nil)
	body := fmt.Sprintf("repositories:\n  - {name: disk, local: {}}\nsources:\n  - name: bucket%s\njobs:\n  - {name: j, sources: [bucket], repository: disk}\n",
		s3YAML(t, dir, s3, "attachments"))
	f := newFixture(t, dir, body)
	if err := f.repos.Init(ctx, "disk"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.eng.Run(ctx, backupRunOptions("j")); err != nil {
		t.Fatal(err)
	}
	src, _ := f.cfg.Source("bucket")
	live, err := f.r.SourceTarget(src)
	if err != nil {
		t.Fatal(err)
	}
	tgt := *live.Bucket
	tgt.Bucket, tgt.Prefix = "restored", ""
	if _, err := f.r.Run(ctx, Options{Source: "bucket", To: Target{Bucket: &tgt}}); err != nil {
		t.Fatal(err)
	}
	st, err := mc.StatObject(ctx, "restored", "case-1/report.pdf", minio.StatObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if st.ContentType != "application/pdf" || st.UserMetadata["Case-Id"] != "C-0001" || st.UserMetadata["Officer"] != "sato" {
		t.Fatalf("restored object: content type %q, metadata %v; want application/pdf with Case-Id and Officer", st.ContentType, st.UserMetadata)
	}
	st, err = mc.StatObject(ctx, "restored", "case-2/notes.txt", minio.StatObjectOptions{})
	if err != nil || st.ContentType != "text/plain; charset=utf-8" || len(st.UserMetadata) != 0 {
		t.Fatalf("restored object without metadata: %q %v %v", st.ContentType, st.UserMetadata, err)
	}
}
