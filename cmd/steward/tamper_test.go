package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"steward/certs"
	"steward/internal/audit"
	"steward/internal/catalog"
	"steward/internal/config"
	"steward/internal/keys"
)

// Tamper evidence (issue 16): every edit of the audit log, the evidence
// bundle and a signed PDF that Steward must detect, the command that
// detects it, and what that command says. docs/reliability.md ("Tamper
// evidence") lists the same cases; keep the two in step.
//
// The PDF cases start from certs/testdata/signed-certificate.pdf, a real
// deletion certificate signed by the certs tests (FuzzVerify's seed),
// verified with its signer pinned as the city pins it. The audit cases
// start from anchoredLog: five records, a signed report made at head 3,
// signed checkpoints.

// tamperCase is one edit and its detection.
type tamperCase struct {
	name string
	// edit tampers with a fresh copy and returns the steward command that
	// must detect it; it runs in dir.
	edit func(t *testing.T, tc *tamperEnv) (dir string, args []string)
	// want are what the output must say (exit is always exitVerify).
	want []string
}

// tamperEnv is what a case edits: a state dir with an anchored log and
// its report, and a copy of the signed certificate with its signer.
type tamperEnv struct {
	dir, report string
	pdf         string // the signed certificate's copy
	signed      []byte // its bytes
	fingerprint string // its signer's certificate SHA-256
}

func newTamperEnv(t *testing.T, withLog bool) *tamperEnv {
	t.Helper()
	root := filepath.Join(repoRoot(t), "certs", "testdata")
	tc := &tamperEnv{signed: mustRead(t, filepath.Join(root, "signed-certificate.pdf")),
		fingerprint: strings.TrimSpace(string(mustRead(t, filepath.Join(root, "signed-certificate.sha256"))))}
	if withLog {
		tc.dir, tc.report = anchoredLog(t)
	} else {
		tc.dir = t.TempDir()
	}
	tc.pdf = filepath.Join(t.TempDir(), "certificate.pdf")
	return tc
}

// writePDF writes the tampered certificate and returns verify's command
// line for it, the signer pinned.
func (tc *tamperEnv) writePDF(t *testing.T, data []byte) (string, []string) {
	t.Helper()
	if err := os.WriteFile(tc.pdf, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return tc.dir, []string{"verify", "--fingerprint", tc.fingerprint, tc.pdf}
}

func tamperCases() []tamperCase {
	auditVerify := []string{"audit", "verify"}
	return []tamperCase{
		// The audit log: steward audit verify.
		{name: "audit record edited in the catalog", edit: func(t *testing.T, tc *tamperEnv) (string, []string) {
			withCatalog(t, tc.dir, func(s *catalog.SQLite) { execSQL(t, s, `UPDATE audit SET target = 'forged' WHERE seq = 2`) })
			return tc.dir, auditVerify
		}, want: []string{"first bad record is seq 2 in the catalog", "the record was edited"}},
		{name: "audit record edited in the mirror", edit: func(t *testing.T, tc *tamperEnv) (string, []string) {
			ls := auditLines(t, tc.dir)
			ls[1] = bytes.Replace(ls[1], []byte(`"action":"`), []byte(`"action":"x`), 1)
			writeMirror(t, tc.dir, ls)
			return tc.dir, auditVerify
		}, want: []string{"first bad record is seq 2 in the mirror", "the record was edited"}},
		{name: "audit record removed from the middle of catalog and mirror", edit: func(t *testing.T, tc *tamperEnv) (string, []string) {
			withCatalog(t, tc.dir, func(s *catalog.SQLite) { execSQL(t, s, `DELETE FROM audit WHERE seq = 2`) })
			ls := auditLines(t, tc.dir)
			writeMirror(t, tc.dir, append(ls[:1], ls[2:]...))
			return tc.dir, auditVerify
		}, want: []string{"first bad record is seq 2 in the catalog", "expected seq 2, found 3"}},
		{name: "audit log's tail removed from the mirror only", edit: func(t *testing.T, tc *tamperEnv) (string, []string) {
			writeMirror(t, tc.dir, auditLines(t, tc.dir)[:3])
			return tc.dir, auditVerify
		}, want: []string{"the mirror holds 3 records and the catalog 5"}},
		{name: "audit log's tail removed from catalog and mirror", edit: func(t *testing.T, tc *tamperEnv) (string, []string) {
			removeTail(t, tc.dir, 2)
			return tc.dir, auditVerify
		}, want: []string{"- report anchor: the log ends at seq 2, but report anchor", "- checkpoint: the log ends at seq 2, but checkpoint", "records 3 to 4 are missing"}},
		{name: "audit log's tail removed with every anchor in the state dir, head given from the report", edit: func(t *testing.T, tc *tamperEnv) (string, []string) {
			head := reportHead(t, tc.report)
			removeTail(t, tc.dir, 2)
			removeStateAnchors(t, tc.dir)
			// audit verify alone cannot see it (and its own record is the
			// new seq 3): the head the report carries can.
			if code, out, _ := stewardRun(t, tc.dir, "", auditVerify...); code != 0 {
				t.Fatalf("with every anchor removed, audit verify alone should not see the tail is gone; it said (exit %d):\n%s", code, out)
			}
			return tc.dir, append(auditVerify, "--head", head)
		}, want: []string{"- given head: record 3 has hash", "but given head --head 3:", "the chain was rewritten at or before seq 3"}},
		{name: "audit log's tail removed with every anchor in the state dir, head given from the report, nothing appended since", edit: func(t *testing.T, tc *tamperEnv) (string, []string) {
			head := reportHead(t, tc.report)
			removeTail(t, tc.dir, 2)
			removeStateAnchors(t, tc.dir)
			return tc.dir, append(auditVerify, "--head", head)
		}, want: []string{"- given head: the log ends at seq 2, but given head --head 3:", "records 3 to 3 are missing"}},
		{name: "audit log's tail removed with every anchor in the state dir, checked against the report by verify --audit-log", edit: func(t *testing.T, tc *tamperEnv) (string, []string) {
			removeTail(t, tc.dir, 2)
			removeStateAnchors(t, tc.dir)
			export := filepath.Join(t.TempDir(), "audit.jsonl")
			if code, _, e := stewardRun(t, tc.dir, "", "audit", "export", "-o", export); code != 0 {
				t.Fatalf("audit export: %d %s", code, e)
			}
			return t.TempDir(), []string{"verify", "--allow-specimen", "--audit-log", export, tc.report}
		}, want: []string{"the report's audit-log head (seq 3) is not in the audit-log export: the export holds seq 1 to 2, not seq 3"}},
		{name: "audit chain rewritten from seq 2, every hash and the report anchor recomputed", edit: func(t *testing.T, tc *tamperEnv) (string, []string) {
			rewriteChain(t, tc.dir)
			return tc.dir, auditVerify
		}, want: []string{"- checkpoint: record 2 has hash", "the chain was rewritten at or before seq 2"}},
		{name: "signed checkpoint altered", edit: func(t *testing.T, tc *tamperEnv) (string, []string) {
			cps, _ := filepath.Glob(filepath.Join(tc.dir, "steward-state", "audit-checkpoints", "*.json"))
			if len(cps) == 0 {
				t.Fatal("no checkpoints")
			}
			data := mustRead(t, cps[0])
			os.WriteFile(cps[0], bytes.Replace(data, []byte(`"seq": 1,`), []byte(`"seq": 2,`), 1), 0o600)
			return tc.dir, auditVerify
		}, want: []string{"the signature does not verify: the checkpoint was altered or forged"}},

		// The signed PDF and the evidence bundle in it: steward verify.
		{name: "PDF: a byte of a page changed", edit: func(t *testing.T, tc *tamperEnv) (string, []string) {
			d := bytes.Clone(tc.signed)
			i := bytes.Index(d, []byte("BT"))
			d[i+40] ^= 0x01
			return tc.writePDF(t, d)
		}, want: []string{"FAILED:            the signature is invalid"}},
		{name: "evidence bundle edited in place", edit: func(t *testing.T, tc *tamperEnv) (string, []string) {
			d := bytes.Clone(tc.signed)
			start, n := embeddedStream(t, d)
			d[start+n/2] ^= 0x01
			return tc.writePDF(t, d)
		}, want: []string{"FAILED:            the signature is invalid", "the embedded data"}},
		{name: "evidence bundle replaced by an incremental update after signing", edit: func(t *testing.T, tc *tamperEnv) (string, []string) {
			return tc.writePDF(t, replaceEvidence(t, tc.signed))
		}, want: []string{"the signature does not cover the whole document", "the evidence was replaced"}},
		{name: "PDF: an incremental update appended after signing", edit: func(t *testing.T, tc *tamperEnv) (string, []string) {
			return tc.writePDF(t, appendUpdate(t, tc.signed, "<< /Type /Annot /Subtype /Text /Contents (approved) >>"))
		}, want: []string{"the signature does not cover the whole document"}},
		{name: "PDF: a second signature by another key appended", edit: func(t *testing.T, tc *tamperEnv) (string, []string) {
			return tc.writePDF(t, signWith(t, otherSigner(t), tc.signed))
		}, want: []string{"the PDF carries 2 signatures; a Steward report has exactly one"}},
		{name: "PDF: re-signed with another key", edit: func(t *testing.T, tc *tamperEnv) (string, []string) {
			return tc.writePDF(t, signWith(t, otherSigner(t), unsignedPart(t, tc.signed)))
		}, want: []string{"ok:                signature is valid", "FAILED:            the signer certificate (SHA-256 ", "is not the expected one"}},
	}
}

// TestTamperEvidence: each edit is detected, by the command the table
// names, with exit 3 and a message that says what was found. The
// untouched state dir and certificate verify (exit 0) first.
func TestTamperEvidence(t *testing.T) {
	tc := newTamperEnv(t, true)
	if code, out, _ := stewardRun(t, tc.dir, "", "audit", "verify"); code != 0 {
		t.Fatalf("the untouched log does not verify: %d\n%s", code, out)
	}
	if dir, args := tc.writePDF(t, tc.signed); true {
		if code, out, e := stewardRun(t, dir, "", args...); code != 0 || !strings.Contains(out, "signer is the expected certificate") {
			t.Fatalf("the untouched certificate does not verify: %d\n%s%s", code, out, e)
		}
	}
	for _, c := range tamperCases() {
		t.Run(c.name, func(t *testing.T) {
			tc := newTamperEnv(t, strings.HasPrefix(c.name, "audit") || strings.HasPrefix(c.name, "signed checkpoint"))
			dir, args := c.edit(t, tc)
			code, out, e := stewardRun(t, dir, "", args...)
			if code != exitVerify {
				t.Fatalf("steward %s: exit %d, want %d\n%s%s", strings.Join(args, " "), code, exitVerify, out, e)
			}
			for _, w := range c.want {
				if !strings.Contains(out, w) {
					t.Errorf("steward %s: output lacks %q:\n%s", strings.Join(args, " "), w, out)
				}
			}
		})
	}
}

// TestAuditVerifyHeadUsage: a --head that is not SEQ:HASH is a usage
// error naming the flag, before anything is read; a head the log holds
// verifies.
func TestAuditVerifyHeadUsage(t *testing.T) {
	dir, report := anchoredLog(t)
	for _, bad := range []string{"3", "3:abc", "0:" + strings.Repeat("a", 64), "x:" + strings.Repeat("a", 64), ":"} {
		code, _, e := stewardRun(t, dir, "", "audit", "verify", "--head", bad)
		if code != exitUsage || !strings.Contains(e, "--head") || !strings.Contains(e, "SEQ:HASH") {
			t.Errorf("--head %q: exit %d, want %d naming --head and SEQ:HASH: %s", bad, code, exitUsage, e)
		}
	}
	head := reportHead(t, report)
	code, out, _ := stewardRun(t, dir, "", "audit", "verify", "--head", head)
	if code != 0 || !strings.Contains(out, "audit log OK") {
		t.Fatalf("audit verify --head %s of an untouched log: exit %d\n%s", head, code, out)
	}
}

func execSQL(t *testing.T, s *catalog.SQLite, q string) {
	t.Helper()
	if _, err := s.DB().Exec(q); err != nil {
		t.Fatal(err)
	}
}

// removeTail removes the records after seq keep from catalog and mirror.
func removeTail(t *testing.T, dir string, keep int) {
	t.Helper()
	withCatalog(t, dir, func(s *catalog.SQLite) { execSQL(t, s, fmt.Sprintf(`DELETE FROM audit WHERE seq > %d`, keep)) })
	writeMirror(t, dir, auditLines(t, dir)[:keep])
}

// removeStateAnchors removes what the state dir holds of the log's
// anchors: the catalog's report anchor and the signed checkpoints.
func removeStateAnchors(t *testing.T, dir string) {
	t.Helper()
	withCatalog(t, dir, func(s *catalog.SQLite) {
		if _, err := s.DB().Exec(`DELETE FROM kv WHERE key = ?`, audit.ReportAnchorKey); err != nil {
			t.Fatal(err)
		}
	})
	if err := os.RemoveAll(filepath.Join(dir, "steward-state", "audit-checkpoints")); err != nil {
		t.Fatal(err)
	}
}

// reportHead is the audit head a report carries, as SEQ:HASH (what
// steward verify prints as "audit head").
func reportHead(t *testing.T, report string) string {
	t.Helper()
	_, out, _ := stewardRun(t, t.TempDir(), "", "--json", "verify", "--allow-specimen", report)
	var res certs.VerifyResult
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.ReportAuditHead == nil {
		t.Fatalf("verify --json: %v\n%s", err, out)
	}
	return fmt.Sprintf("%d:%s", res.ReportAuditHead.Seq, res.ReportAuditHead.Hash)
}

// rewriteChain rewrites the log from seq 2 on (another actor), recomputing
// every hash in the catalog and the mirror, and moves the catalog's report
// anchor along: the chain verifies, only the checkpoints outside the
// catalog disagree.
func rewriteChain(t *testing.T, dir string) []audit.Record {
	t.Helper()
	var recs []audit.Record
	for _, l := range auditLines(t, dir) {
		var r audit.Record
		if err := json.Unmarshal(l, &r); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	var lines [][]byte
	for i := range recs {
		r := &recs[i]
		if r.Seq == 2 {
			r.Actor = "os:mallory"
		}
		if i > 0 {
			r.PrevHash = recs[i-1].Hash
		}
		r.Hash = audit.Hash(*r)
		line, _ := json.Marshal(*r)
		lines = append(lines, line)
	}
	withCatalog(t, dir, func(s *catalog.SQLite) {
		for _, r := range recs[1:] {
			if _, err := s.DB().Exec(`UPDATE audit SET actor = ?, prev_hash = ?, hash = ? WHERE seq = ?`, r.Actor, r.PrevHash, r.Hash, r.Seq); err != nil {
				t.Fatal(err)
			}
		}
		raw, _ := json.Marshal(map[string]any{"seq": 3, "hash": recs[2].Hash, "source": "forged"})
		if err := s.Put(context.Background(), audit.ReportAnchorKey, raw); err != nil {
			t.Fatal(err)
		}
	})
	writeMirror(t, dir, lines)
	return recs
}

var (
	embeddedRE  = regexp.MustCompile(`(\d+) 0 obj\s*<< /Type /EmbeddedFile [^\n]*?/Length (\d+)[^\n]*\n?stream\r?\n`)
	startxrefRE = regexp.MustCompile(`startxref\s+(\d+)\s+%%EOF\s*$`)
	rootRE      = regexp.MustCompile(`/Root (\d+) 0 R`)
	infoRE      = regexp.MustCompile(`/Info (\d+) 0 R`)
)

// embeddedStream is the offset and length of the embedded evidence
// file's (zstd) data.
func embeddedStream(t *testing.T, pdf []byte) (int, int) {
	t.Helper()
	m := embeddedRE.FindSubmatchIndex(pdf)
	if m == nil {
		t.Fatal("no /Type /EmbeddedFile stream with a direct /Length")
	}
	n, _ := strconv.Atoi(string(pdf[m[4]:m[5]]))
	return m[1], n
}

// appendUpdate appends an incremental update that adds obj (a new object)
// to the signed PDF, as an editor saving a change would.
func appendUpdate(t *testing.T, signed []byte, obj string) []byte {
	t.Helper()
	return appendObjects(t, signed, map[int][]byte{999: []byte(obj)})
}

// appendObjects appends an incremental update defining objs (by number).
func appendObjects(t *testing.T, signed []byte, objs map[int][]byte) []byte {
	t.Helper()
	prev := startxrefRE.FindSubmatch(signed)
	roots := rootRE.FindAllSubmatch(signed, -1)
	info := infoRE.FindSubmatch(signed)
	if prev == nil || roots == nil || info == nil {
		t.Fatal("the PDF has no startxref, /Root or /Info")
	}
	var b bytes.Buffer
	b.Write(signed)
	var xref strings.Builder
	for num, body := range objs {
		fmt.Fprintf(&xref, "%d 1\n%010d 00000 n \n", num, b.Len())
		fmt.Fprintf(&b, "%d 0 obj\n", num)
		b.Write(body)
		b.WriteString("\nendobj\n")
	}
	at := b.Len()
	fmt.Fprintf(&b, "xref\n%strailer\n<< /Size 1000 /Root %s 0 R /Info %s 0 R /Prev %s >>\nstartxref\n%d\n%%%%EOF\n",
		xref.String(), roots[len(roots)-1][1], info[1], prev[1], at)
	return b.Bytes()
}

// replaceEvidence appends an update that replaces the embedded evidence
// with an edited bundle: another operator, compressed as Steward does.
func replaceEvidence(t *testing.T, signed []byte) []byte {
	t.Helper()
	m := embeddedRE.FindSubmatch(signed)
	start, n := embeddedStream(t, signed)
	dec, err := zstd.NewReader(bytes.NewReader(signed[start : start+n]))
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	var plain bytes.Buffer
	if _, err := plain.ReadFrom(dec); err != nil {
		t.Fatal(err)
	}
	edited := bytes.Replace(plain.Bytes(), []byte(`"operator":"sato"`), []byte(`"operator":"mallory"`), 1)
	if bytes.Equal(edited, plain.Bytes()) {
		t.Fatal("the evidence names no operator sato")
	}
	enc, _ := zstd.NewWriter(nil)
	z := enc.EncodeAll(edited, nil)
	num, _ := strconv.Atoi(string(m[1]))
	body := fmt.Appendf(nil, "<< /Type /EmbeddedFile /Subtype /application#2Fzstd /Length %d >>\nstream\n", len(z))
	body = append(append(body, z...), "\nendstream"...)
	return appendObjects(t, signed, map[int][]byte{num: body})
}

// unsignedPart is the PDF as it was before its signature was appended:
// everything up to the end of the update before the signature's.
func unsignedPart(t *testing.T, signed []byte) []byte {
	t.Helper()
	br := bytes.Index(signed, []byte("/ByteRange"))
	eof := bytes.LastIndex(signed[:br], []byte("%%EOF"))
	if br < 0 || eof < 0 {
		t.Fatal("no signature update found")
	}
	end := eof + len("%%EOF")
	if end < len(signed) && signed[end] == '\n' {
		end++
	}
	return signed[:end]
}

// otherSigner is a signing key and certificate that are not the ones the
// certificate's reader expects.
func otherSigner(t *testing.T) *certs.Signer {
	t.Helper()
	dir := t.TempDir()
	cfg := config.Signing{Certificate: filepath.Join(dir, "other.crt"), Key: filepath.Join(dir, "other.key"), Signer: "運用責任者 山田太郎", Location: "Tokyo, Japan"}
	if _, err := keys.CreateSigningCertificate(cfg.Certificate, cfg.Key,
		keys.SigningSubject{CommonName: "Steward test signer", Organisation: "Sample Ops K.K.", Country: "JP"}, time.Now(), 365*24*time.Hour); err != nil {
		t.Fatal(err)
	}
	s, err := certs.NewSigner(cfg, "データ消去証明 / certificate of data deletion", nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func signWith(t *testing.T, s *certs.Signer, pdf []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	if err := certs.Sign(context.Background(), bytes.NewReader(pdf), int64(len(pdf)), s, &out); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}
