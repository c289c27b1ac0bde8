//go:build crashpoints

package main

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"steward/erase"
	"steward/internal/catalog"
	"steward/internal/crash"
	"steward/internal/testenv"
)

// eraseKillPoints are erase's crash points in the order execute reaches
// them: each step's start and, for the steps that work target by target,
// the first target done.
func eraseKillPoints() []string {
	var l []string
	for _, s := range erase.Steps {
		for _, p := range []string{crash.EraseStep + ":" + s, crash.EraseTarget + ":" + s} {
			if slices.Contains(crash.List(), p) {
				l = append(l, p)
			}
		}
	}
	return l
}

// TestEraseResumesAfterKill (crash suite): execute is killed (SIGKILL, at
// the crash points) at the start of each step in turn, after the first
// target of each step that works target by target, and after the
// deletion certificate's PDF was filed but before it was recorded; once
// the S3 server is down mid-deletion. Each rerun resumes, the last
// completes; the journal lists each step once as done, each step's
// evidence lists each target once, erased, absent or verified; one
// certificate is issued, pdfsig finds its signature valid, and the audit
// log names it (by its SHA-256) in exactly one erase.certificate record,
// even though the run that filed it was killed before recording it; the
// audit log verifies.
func TestEraseResumesAfterKill(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s3 := testenv.StartS3(t)
	s3.MakeBucket(t, "src", testenv.WithVersioning())
	s3.MakeBucket(t, "repo", testenv.WithVersioning())
	mc := s3.Client(t)
	for i := range 3 {
		body := fmt.Sprintf("version %d", i)
		if _, err := mc.PutObject(ctx, "src", "a.txt", strings.NewReader(body), int64(len(body)), minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	files := filepath.Join(dir, "files")
	testenv.WriteFiles(t, files, 4, 100)
	os.WriteFile(filepath.Join(dir, "steward.yaml"), []byte(fmt.Sprintf(`contract: {id: T-1, customer: City, service: s, end_date: 2099-03-31}
state_dir: state
restic: {path: %s}
repositories:
  - name: tokyo%s
  - {name: copy, local: {}}
sources:
  - {name: files, path: {path: %s}}
  - name: bucket%s
jobs:
  - {name: j, sources: [files, bucket], repository: tokyo, replicas: [copy]}
signing: {organisation: Test Operator KK, signer: Test Signer}
erase: {approvers: [bob], cooling_off: 1s}
accounts:
  - {name: restic-key, kind: restic_key, target: tokyo, id: primary}
`, filepath.Join(repoRoot(t), "bin", "restic"), testenv.S3YAML(t, dir, s3, "repo", s3.AccessKey, s3.SecretKey), files,
		testenv.S3YAML(t, dir, s3, "src", s3.AccessKey, s3.SecretKey))), 0o600)
	for _, args := range [][]string{{"init"}, {"repo", "init"}, {"backup", "run"}} {
		if code, out, errOut := stewardRun(t, dir, "", args...); code != 0 {
			t.Fatalf("%v: %d\n%s%s", args, code, out, errOut)
		}
	}
	code, out, errOut := stewardRun(t, dir, "", "erase", "plan", "--as", "alice")
	if code != 0 {
		t.Fatalf("plan: %d\n%s%s", code, out, errOut)
	}
	id := strings.Fields(out)[2]
	if code, out, errOut := stewardRun(t, dir, "", "erase", "approve", id, "--as", "bob", "--confirm", "T-1", "--waive-handover", "test"); code != 0 {
		t.Fatalf("approve: %d\n%s%s", code, out, errOut)
	}
	time.Sleep(1100 * time.Millisecond)
	c := newCrashEnv(t, dir)
	execute := []string{"erase", "execute", id, "--as", "alice"}
	points := append(eraseKillPoints(), crash.CertsPDFWritten)
	if want := crashScenarios[t.Name()]; !slices.Equal(points, want) {
		t.Fatalf("the erase points %v differ from the suite's list %v", points, want)
	}
	for _, s := range erase.Steps {
		if !slices.Contains(points, crash.EraseStep+":"+s) {
			t.Errorf("erase step %s has no crash point %s:%s in crash.List", s, crash.EraseStep, s)
		}
	}
	for _, point := range points {
		c.kill(point, execute...)
		if point == crash.EraseStep+":"+erase.StepDelete {
			// The S3 server stops mid-deletion: execute fails naming the
			// step; started again, the next run goes on.
			s3.Stop()
			out, err := c.command(nil, execute...)
			if err == nil || !strings.Contains(out, "step "+erase.StepDelete) || !strings.Contains(out, "resume") {
				t.Fatalf("execute with the S3 server down: %v\n%s", err, out)
			}
			s3.Restart()
		}
	}
	if out := c.run("the end", execute...); !strings.Contains(out, "deletion certificate DC-") {
		t.Fatalf("execute after the kills:\n%s", out)
	}
	c.checkTrace()
	st, err := catalog.Open(ctx, filepath.Join(dir, "state", "catalog.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rows, err := st.Journal(ctx, id)
	if err != nil || len(rows) != len(erase.Steps) {
		t.Fatalf("journal: %d rows, %v; want %d", len(rows), err, len(erase.Steps))
	}
	for i, r := range rows {
		if r.Name != erase.Steps[i] || r.Result != erase.ResultDone || r.Finished == "" {
			t.Errorf("journal step %d: %+v", i+1, r)
		}
		var ev erase.StepEvidence
		if err := json.Unmarshal(r.Evidence, &ev); err != nil {
			t.Fatalf("journal step %s evidence: %v", r.Name, err)
		}
		seen := map[string]bool{}
		for _, tr := range ev.Targets {
			if seen[tr.ID] {
				t.Errorf("step %s lists target %s twice", r.Name, tr.ID)
			}
			seen[tr.ID] = true
			if !slices.Contains([]string{erase.TargetErased, erase.TargetAbsent, erase.Verified}, tr.Result) {
				t.Errorf("step %s, target %s: %s", r.Name, tr.ID, tr.Result)
			}
		}
		if slices.Contains(points, crash.EraseTarget+":"+r.Name) && len(ev.Targets) == 0 {
			t.Errorf("step %s was killed after its first target, but its evidence lists none", r.Name)
		}
	}
	pdfs, _ := filepath.Glob(filepath.Join(dir, "state", "reports", "deletion-certificate-*.pdf"))
	if len(pdfs) != 1 {
		t.Fatalf("certificates: %v", pdfs)
	}
	if sig, err := exec.Command("pdfsig", pdfs[0]).CombinedOutput(); !strings.Contains(string(sig), "Signature is Valid.") {
		t.Fatalf("pdfsig on the certificate: %v %s", err, sig)
	}
	if _, err := os.Lstat(filepath.Join(dir, "state", "keys", "master.key")); err == nil {
		t.Error("the master key survived the erase")
	}
	b, err := os.ReadFile(pdfs[0])
	if err != nil {
		t.Fatal(err)
	}
	sum := fmt.Sprintf("%x", sha256.Sum256(b))
	var issued, named int
	for _, rec := range auditRecords(t, filepath.Join(dir, "state")) {
		if rec.Action != "erase.certificate" {
			continue
		}
		if rec.Target == "plan:"+id && rec.Result == "ok" {
			issued++
		}
		if rec.Details["pdf_sha256"] == sum {
			named++
		}
	}
	if issued != 1 || named != 1 {
		t.Errorf("the audit log holds %d erase.certificate records of plan %s, %d naming the certificate on file; want 1 and 1", issued, id, named)
	}
	c.auditVerify("the end")
	if code, out, errOut := stewardRun(t, dir, "", "erase", "verify", id); code != 0 {
		t.Fatalf("verify: %d\n%s%s", code, out, errOut)
	}
	if _, err := mc.BucketExists(ctx, "src"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := mc.BucketExists(ctx, "src"); ok {
		t.Fatal("bucket src survived")
	}
}
