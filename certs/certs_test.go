package certs

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden text extractions in testdata/")

// reportCase is one kind of report, rendered under a fake clock.
type reportCase struct {
	name   string
	render func(t *testing.T) func(io.Writer) (*Rendered, error)
	// want are strings pdftotext must find (whitespace-normalised).
	want []string
}

func reportCases() []reportCase {
	return []reportCase{
		{name: "certificate", render: func(t *testing.T) func(io.Writer) (*Rendered, error) {
			ev, opts := fixtureEvidence(t, false), renderOptions(t)
			return func(w io.Writer) (*Rendered, error) { return IssueCertificate(w, ev, opts) }
		}, want: []string{"データ消去証明書", "Certificate of Data Deletion", "K-2024-017", "DEL-2027-0001",
			"primary-repo", "case-files", "consult", "restic cache", "+09:00", "Status: 消去完了 / Erased",
			"steward-backup", "steward_backup", "ISMAP audit report", "EC-DISP-2031-0042", "NIST SP 800-88"}},
		{name: "certificate-exceptions", render: func(t *testing.T) func(io.Writer) (*Rendered, error) {
			ev, opts := fixtureEvidence(t, true), renderOptions(t)
			return func(w io.Writer) (*Rendered, error) { return IssueCertificate(w, ev, opts) }
		}, want: []string{"データ消去証明書", "K-2024-017", "primary-repo", "case-files", "consult", "restic cache", "replica-osaka",
			"+09:00", "Erased with exceptions", "例外 Exceptions (2)",
			"replica-osaka (repository_local): replica disk mounted read-only; 2 pack files could not be deleted"}},
		{name: "drill", render: func(t *testing.T) func(io.Writer) (*Rendered, error) {
			d, opts := fixtureDrill(t), renderOptions(t)
			return func(w io.Writer) (*Rendered, error) { return RenderDrillReport(w, d, opts) }
		}, want: []string{"復旧訓練報告書", "Restore Drill Report", "DRILL-2027-01-15", "4f1c2b9a", "+09:00",
			"合格 / passed", "3/12", "scratch database dropped", "rows cases", "RTO", "RPO"}},
		{name: "capacity", render: func(t *testing.T) func(io.Writer) (*Rendered, error) {
			c, opts := fixtureCapacity(t), renderOptions(t)
			return func(w io.Writer) (*Rendered, error) { return RenderCapacityReport(w, c, opts) }
		}, want: []string{"容量・性能報告書", "Capacity and Performance Report", "2027-01", "consult", "case-files",
			"primary-repo", "replica-osaka", "ap-northeast-3", "Drill RTO trend", "+09:00"}},
		{name: "handover", render: func(t *testing.T) func(io.Writer) (*Rendered, error) {
			h, opts := fixtureHandover(t), renderOptions(t)
			return func(w io.Writer) (*Rendered, error) { return RenderHandoverReceipt(w, h, opts) }
		}, want: []string{"データ引渡書", "Data Hand-over Receipt", "HO-20270331T100000-a1b2c3", "K-2024-017", "os:yamada",
			strings.Repeat("ab", 32), "consult", "case-files", "letters", "37 表 tables", "1,201 オブジェクト objects", "4f1c2b9a", "+09:00"}},
	}
}

// TestReportsSignedValidAndGolden signs every report, checks it with
// poppler's pdfsig and with Verify, and compares pdftotext's extraction
// with testdata/<name>.txt (go test -update rewrites them).
func TestReportsSignedValidAndGolden(t *testing.T) {
	dir := t.TempDir()
	s, _ := testSigner(t, dir)
	for _, tc := range reportCases() {
		t.Run(tc.name, func(t *testing.T) {
			path, sum, err := WriteSigned(context.Background(), dir, tc.name+".pdf", tc.render(t), s)
			if err != nil {
				t.Fatal(err)
			}
			if len(sum) != 64 {
				t.Fatalf("sha256 %q", sum)
			}
			out := pdfsig(t, path)
			for _, want := range []string{"Signature is Valid.", "Total document signed"} {
				if !strings.Contains(out, want) {
					t.Fatalf("pdfsig lacks %q:\n%s", want, out)
				}
			}
			res, err := Verify(context.Background(), path, VerifyOptions{Fingerprint: fingerprint(t, s)})
			if err != nil {
				t.Fatalf("Verify: %v\n%s", err, res)
			}
			if !res.SignerPinned || res.SigningTime == nil || res.Kind == "" || res.ID == "" {
				t.Fatalf("incomplete result:\n%s", res)
			}

			text := pdftotext(t, path)
			norm := normalise(text)
			for _, want := range tc.want {
				if !strings.Contains(norm, want) {
					t.Errorf("pdftotext lacks %q", want)
				}
			}
			if !regexp.MustCompile(`1 ?/ ?\d`).MatchString(text) {
				t.Errorf("pdftotext finds no page number n / N")
			}
			if strings.Contains(text, "\uFFFD") {
				t.Errorf("pdftotext found replacement characters (missing glyphs)")
			}
			golden := filepath.Join("testdata", tc.name+".txt")
			if *updateGolden {
				if err := os.WriteFile(golden, []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v: run go test ./certs -run TestReportsSignedValidAndGolden -update", err)
			}
			if string(want) != text {
				t.Errorf("text of %s differs from %s (rerun with -update if the change is intended):\n%s", tc.name, golden, text)
			}
		})
	}
}

func TestCertificateStatus(t *testing.T) {
	tests := []struct {
		name   string
		modify func(ev *Evidence)
		want   string
		excs   int
	}{
		{"all erased", func(*Evidence) {}, StatusErased, 0},
		{"target exception", func(ev *Evidence) { ev.Targets[1].Exception = "bucket locked by retention" }, StatusErasedWithExceptions, 1},
		{"verification failed", func(ev *Evidence) { ev.Targets[0].Verification.Result = ResultFailed }, StatusErasedWithExceptions, 1},
		{"account not revoked", func(ev *Evidence) {
			ev.Accounts[0].Verification = Verification{Method: "login attempt", Result: ResultFailed, Detail: "key still accepted"}
		}, StatusErasedWithExceptions, 1},
		{"no targets", func(ev *Evidence) { ev.Targets = nil }, StatusErasedWithExceptions, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := fixtureEvidence(t, false)
			tt.modify(ev)
			if got := ev.Status(); got != tt.want {
				t.Errorf("Status = %q, want %q", got, tt.want)
			}
			if got := len(ev.Exceptions()); got != tt.excs {
				t.Errorf("%d exceptions, want %d: %q", got, tt.excs, ev.Exceptions())
			}
		})
	}
}

// signedCertificate renders and signs the fixture certificate.
func signedCertificate(t *testing.T, dir string, s *Signer, withExc bool) (string, []byte) {
	t.Helper()
	ev := fixtureEvidence(t, withExc)
	unsigned, _ := renderTo(t, func(w io.Writer) (*Rendered, error) { return IssueCertificate(w, ev, renderOptions(t)) })
	path := signBytes(t, dir, "cert.pdf", unsigned, s)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, data
}

var byteRangeRE = regexp.MustCompile(`/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\]`)

// Failures Verify reports for a damaged file, by the check that finds
// them.
const (
	failParse     = "the file is not a readable PDF"
	failDigest    = "the signature is invalid: " // + pdfsign's "… Message digest mismatch …"
	failSignature = "the signature "             // the signature value itself, unreadable
	failEvidence  = "the evidence was replaced"
)

// TestFlippedByteIsDetected flips one bit at places across a signed
// certificate: each is refused by pdfsig and by Verify, by the check that
// should find it. A bit flipped inside a page's content stream or the
// embedded font program still parses, and is not in the embedded data:
// only the signature's digest over the signed byte ranges can catch it,
// and it must be the one failure reported.
func TestFlippedByteIsDetected(t *testing.T) {
	dir := t.TempDir()
	s, _ := testSigner(t, dir)
	_, signed := signedCertificate(t, dir, s, true)
	m := byteRangeRE.FindSubmatch(signed)
	if m == nil {
		t.Fatal("no /ByteRange in the signed PDF")
	}
	gapStart, _ := strconv.Atoi(string(m[2]))
	gapEnd, _ := strconv.Atoi(string(m[3]))
	embedded := bytes.Index(signed, []byte("/Type /EmbeddedFile"))
	content := bytes.Index(signed, []byte("stream\n"))
	type position struct {
		name string
		at   int
		// want must be among the failures (the only one, with only).
		want string
		only bool
	}
	positions := []position{
		{"header", 5, failParse, false},
		{"first page content", content + 40, failDigest, true},
		{"embedded evidence", embedded + 300, failEvidence, false},
		{"middle", len(signed) / 2, failDigest, true},
		{"signature value", gapStart + 40, failSignature, false},
		{"signature dictionary", gapEnd + 20, failDigest, true},
		{"final trailer", len(signed) - 8, failDigest, true},
	}
	pages := regexp.MustCompile(`/Contents (\d+) 0 R`).FindAllSubmatch(signed, -1)
	if len(pages) < 2 {
		t.Fatalf("%d page content streams found, want the certificate's pages", len(pages))
	}
	for i, p := range pages {
		start, n := streamData(t, signed, string(p[1]))
		positions = append(positions,
			position{fmt.Sprintf("page %d content stream, start", i+1), start + 2, failDigest, true},
			position{fmt.Sprintf("page %d content stream, middle", i+1), start + n/2, failDigest, true},
			position{fmt.Sprintf("page %d content stream, end", i+1), start + n - 1, failDigest, true})
	}
	font := regexp.MustCompile(`/FontFile2 (\d+) 0 R`).FindSubmatch(signed)
	if font == nil {
		t.Fatal("no embedded font program (/FontFile2) found")
	}
	start, n := streamData(t, signed, string(font[1]))
	positions = append(positions, position{"font program stream", start + n/3, failDigest, true})

	for _, p := range positions {
		t.Run(p.name, func(t *testing.T) {
			if p.want == failDigest && (p.at >= gapStart && p.at < gapEnd || p.at >= len(signed)) {
				t.Fatalf("position %d is not in the signed byte ranges [0,%d) and [%d,%d)", p.at, gapStart, gapEnd, len(signed))
			}
			damaged := bytes.Clone(signed)
			damaged[p.at] ^= 0x01
			path := filepath.Join(t.TempDir(), "damaged.pdf")
			if err := os.WriteFile(path, damaged, 0o644); err != nil {
				t.Fatal(err)
			}
			out := pdfsig(t, path)
			if strings.Contains(out, "Signature is Valid.") && strings.Contains(out, "Total document signed") {
				t.Errorf("pdfsig accepts a flipped byte at %d:\n%s", p.at, out)
			}
			res, err := Verify(context.Background(), path, VerifyOptions{Fingerprint: fingerprint(t, s)})
			if !errors.Is(err, ErrVerificationFailed) {
				t.Fatalf("Verify of a flipped byte at %d: err %v, want ErrVerificationFailed\n%v", p.at, err, res)
			}
			if res == nil || res.OK() {
				t.Fatalf("Verify result claims success: %v", res)
			}
			found := slices.ContainsFunc(res.Failed, func(f string) bool {
				return strings.HasPrefix(f, p.want) || (p.want == failEvidence && strings.Contains(f, p.want))
			})
			if p.want == failDigest {
				found = found && slices.ContainsFunc(res.Failed, func(f string) bool { return strings.Contains(f, "digest") })
			}
			if !found || (p.only && len(res.Failed) != 1) {
				t.Fatalf("a flipped byte at %d: failures %q, want %q among them (the only one: %v)", p.at, res.Failed, p.want, p.only)
			}
		})
	}
}

// streamData returns the offset and length of the data of stream object
// obj in pdf (uncompressed PDF syntax, its /Length given directly).
func streamData(t *testing.T, pdf []byte, obj string) (int, int) {
	t.Helper()
	head := regexp.MustCompile(`(?s)\n` + obj + ` 0 obj\s*<<(.*?)>>\s*stream\r?\n`).FindSubmatchIndex(pdf)
	if head == nil {
		t.Fatalf("stream object %s not found", obj)
	}
	l := regexp.MustCompile(`/Length (\d+)(\s+\d+\s+R)?`).FindSubmatch(pdf[head[2]:head[3]])
	if l == nil || len(l[2]) > 0 {
		t.Fatalf("stream object %s has no direct /Length", obj)
	}
	n, _ := strconv.Atoi(string(l[1]))
	if n < 8 || !bytes.HasPrefix(pdf[head[1]+n:], []byte("\nendstream")) && !bytes.HasPrefix(pdf[head[1]+n:], []byte("endstream")) {
		t.Fatalf("stream object %s: /Length %d does not end at endstream", obj, n)
	}
	return head[1], n
}

func TestReplacedEvidenceIsDetected(t *testing.T) {
	dir := t.TempDir()
	s, _ := testSigner(t, dir)
	honest := fixtureEvidence(t, true)
	var sink bytes.Buffer
	orig, err := IssueCertificate(&sink, honest, renderOptions(t))
	if err != nil {
		t.Fatal(err)
	}

	t.Run("re-rendered with other evidence, same hash claim", func(t *testing.T) {
		// The forger drops the exception but prints the honest hash.
		forged := fixtureEvidence(t, false)
		unsigned, _ := renderTo(t, func(w io.Writer) (*Rendered, error) {
			return renderCertificate(w, forged, renderOptions(t), orig.DataSHA256)
		})
		path := signBytes(t, t.TempDir(), "forged.pdf", unsigned, s)
		if out := pdfsig(t, path); !strings.Contains(out, "Signature is Valid.") {
			t.Fatalf("the forgery should carry a valid signature for this test:\n%s", out)
		}
		res, err := Verify(context.Background(), path, VerifyOptions{Fingerprint: fingerprint(t, s)})
		if !errors.Is(err, ErrVerificationFailed) || !strings.Contains(strings.Join(res.Failed, "\n"), "evidence was replaced") {
			t.Fatalf("Verify: %v\n%v", err, res)
		}
	})

	t.Run("attachment swapped after signing", func(t *testing.T) {
		path, signed := signedCertificate(t, t.TempDir(), s, true)
		// An incremental update that replaces the embedded file object.
		other := fixtureEvidence(t, false)
		att, err := compressJSON("evidence.json.zst", "", func(w io.Writer) error { _, err := other.WriteJSON(w); return err })
		if err != nil {
			t.Fatal(err)
		}
		obj := regexp.MustCompile(`(\d+) 0 obj\n<< /Type /EmbeddedFile`).FindSubmatch(signed)
		prev := regexp.MustCompile(`startxref\s+(\d+)\s+%%EOF\s*$`).FindSubmatch(signed)
		root := regexp.MustCompile(`/Root (\d+) 0 R`).FindAllSubmatch(signed, -1)
		info := regexp.MustCompile(`/Info (\d+) 0 R`).FindSubmatch(signed)
		var upd bytes.Buffer
		upd.Write(signed)
		off := upd.Len()
		defer att.close()
		fmt.Fprintf(&upd, "%s 0 obj\n<< /Type /EmbeddedFile /Length %d >>\nstream\n", obj[1], att.zlen)
		if err := att.writeTo(&upd); err != nil {
			t.Fatal(err)
		}
		upd.WriteString("\nendstream\nendobj\n")
		xref := upd.Len()
		fmt.Fprintf(&upd, "xref\n%s 1\n%010d 00000 n \ntrailer\n<< /Size 100 /Root %s 0 R /Info %s 0 R /Prev %s >>\nstartxref\n%d\n%%%%EOF\n",
			obj[1], off, root[len(root)-1][1], info[1], prev[1], xref)
		if err := os.WriteFile(path, upd.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		if out := pdfsig(t, path); strings.Contains(out, "Total document signed") {
			t.Errorf("pdfsig calls the swapped file totally signed:\n%s", out)
		}
		res, err := Verify(context.Background(), path, VerifyOptions{Fingerprint: fingerprint(t, s)})
		if !errors.Is(err, ErrVerificationFailed) {
			t.Fatalf("Verify: %v\n%v", err, res)
		}
		joined := strings.Join(res.Failed, "\n")
		if !strings.Contains(joined, "does not cover the whole document") || !strings.Contains(joined, "evidence was replaced") {
			t.Fatalf("failed checks do not name the swap:\n%s", res)
		}
	})
}

func TestSignerPinning(t *testing.T) {
	dir := t.TempDir()
	s, cfg := testSigner(t, dir)
	path, _ := signedCertificate(t, dir, s, false)
	other, otherCfg := testSigner(t, t.TempDir())
	tests := []struct {
		name   string
		opts   VerifyOptions
		ok     bool
		pinned bool
	}{
		{"not pinned", VerifyOptions{}, true, false},
		{"right fingerprint with colons", VerifyOptions{Fingerprint: colons(fingerprint(t, s))}, true, true},
		{"right certificate file", VerifyOptions{CertFile: cfg.Certificate}, true, true},
		{"wrong fingerprint", VerifyOptions{Fingerprint: fingerprint(t, other)}, false, false},
		{"wrong certificate file", VerifyOptions{CertFile: otherCfg.Certificate}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Verify(context.Background(), path, tt.opts)
			if tt.ok != (err == nil) {
				t.Fatalf("Verify err = %v, want ok=%v\n%v", err, tt.ok, res)
			}
			if !tt.ok && !errors.Is(err, ErrVerificationFailed) {
				t.Fatalf("err %v does not wrap ErrVerificationFailed", err)
			}
			if res.SignerPinned != tt.pinned {
				t.Fatalf("pinned = %v, want %v", res.SignerPinned, tt.pinned)
			}
			if !tt.pinned && tt.ok && len(res.Warnings) == 0 {
				t.Fatal("an unpinned signer should give a warning")
			}
		})
	}
	if _, err := Verify(context.Background(), path, VerifyOptions{Fingerprint: "abc"}); err == nil || errors.Is(err, ErrVerificationFailed) {
		t.Fatalf("a malformed fingerprint is a usage error, got %v", err)
	}
}

func colons(hex string) string {
	var parts []string
	for i := 0; i < len(hex); i += 2 {
		parts = append(parts, strings.ToUpper(hex[i:i+2]))
	}
	return strings.Join(parts, ":")
}

func TestTimestampAuthority(t *testing.T) {
	dir := t.TempDir()
	s, _ := testSigner(t, dir)
	tsaTime := time.Now().Truncate(time.Second)
	srv := startTSA(t, func() time.Time { return tsaTime })
	s.TSAURL = srv.URL
	path, _ := signedCertificate(t, dir, s, false)
	out := pdfsig(t, path)
	for _, want := range []string{"Signature is Valid.", "Total document signed", "Timestamp"} {
		if !strings.Contains(out, want) {
			t.Errorf("pdfsig lacks %q:\n%s", want, out)
		}
	}
	res, err := Verify(context.Background(), path, VerifyOptions{Fingerprint: fingerprint(t, s)})
	if err != nil {
		t.Fatalf("Verify: %v\n%s", err, res)
	}
	if res.TimestampTime == nil || !res.TimestampTime.Equal(tsaTime) {
		t.Fatalf("timestamp time %v, want %v", res.TimestampTime, tsaTime)
	}
	if !strings.Contains(res.TimestampAuthority, "Steward test TSA") {
		t.Fatalf("timestamp authority %q", res.TimestampAuthority)
	}

	s.TSAURL = srv.URL + "/down"
	srv.Close()
	var buf bytes.Buffer
	unsigned, _ := renderTo(t, func(w io.Writer) (*Rendered, error) {
		return IssueCertificate(w, fixtureEvidence(t, false), renderOptions(t))
	})
	err = Sign(context.Background(), bytes.NewReader(unsigned), int64(len(unsigned)), s, &buf)
	if err == nil || !strings.Contains(err.Error(), "signing.tsa_url") {
		t.Fatalf("an unreachable TSA: err %v, want one naming signing.tsa_url", err)
	}
}

func TestMissingFont(t *testing.T) {
	opts := renderOptions(t)
	opts.FontPath = filepath.Join(t.TempDir(), "ipaexg.ttf")
	_, err := RenderCertificate(io.Discard, fixtureEvidence(t, false), opts)
	if !errors.Is(err, ErrFontMissing) || !strings.Contains(err.Error(), "fonts-ipaexfont-gothic") {
		t.Fatalf("err = %v, want ErrFontMissing naming the Debian package", err)
	}
}

func TestInvalidEvidenceRefused(t *testing.T) {
	tests := []struct {
		name   string
		modify func(ev *Evidence)
		want   string
	}{
		{"no certificate id", func(ev *Evidence) { ev.CertificateID = "" }, "certificate_id"},
		{"unknown kind", func(ev *Evidence) { ev.Targets[0].Kind = "floppy" }, `"floppy"`},
		{"unknown method", func(ev *Evidence) { ev.Targets[0].Method = "shred" }, `"shred"`},
		{"object of unknown target", func(ev *Evidence) {
			ev.Objects = ObjectSlice([]Object{{Target: "nope", KeySHA256: "00", Size: 1}})
		}, `"nope"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := fixtureEvidence(t, false)
			tt.modify(ev)
			_, err := RenderCertificate(io.Discard, ev, renderOptions(t))
			if !errors.Is(err, ErrInvalidEvidence) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want ErrInvalidEvidence naming %s", err, tt.want)
			}
		})
	}
}

func TestEvidenceJSONRoundTrip(t *testing.T) {
	ev := fixtureEvidence(t, true)
	path := filepath.Join(t.TempDir(), "evidence.json")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := ev.WriteJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if sum.Count != 9 {
		t.Fatalf("wrote %d objects, want 9", sum.Count)
	}
	back, err := OpenEvidence(path)
	if err != nil {
		t.Fatal(err)
	}
	if back.CertificateID != ev.CertificateID || len(back.Targets) != len(ev.Targets) ||
		back.Targets[4].Exception != ev.Targets[4].Exception || !back.Issued.Equal(ev.Issued) ||
		back.Clock.Sync != ev.Clock.Sync || back.Status() != StatusErasedWithExceptions {
		t.Fatalf("round trip changed the evidence: %+v", back)
	}
	var n int
	var want []Object
	for o := range ev.Objects {
		want = append(want, o)
	}
	for o, err := range back.Objects {
		if err != nil {
			t.Fatal(err)
		}
		if o != want[n] {
			t.Fatalf("object %d = %+v, want %+v", n, o, want[n])
		}
		n++
	}
	if n != len(want) {
		t.Fatalf("read %d objects, want %d", n, len(want))
	}
	// A certificate rendered from the file embeds the same bytes.
	var a, b bytes.Buffer
	ra, err := RenderCertificate(&a, ev, renderOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	rb, err := RenderCertificate(&b, back, renderOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	if ra.DataSHA256 != rb.DataSHA256 || !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("rendering from the evidence file differs from rendering from memory")
	}
}

// TestDrillReportRefusesContradiction: a report says what its record
// says, so a report that says passed while anything in it failed (or
// without the targets it was judged against) is refused, not rendered.
func TestDrillReportRefusesContradiction(t *testing.T) {
	tests := []struct {
		name   string
		modify func(d *DrillReport)
		want   string
	}{
		{"RTO not met", func(d *DrillReport) { d.RTO.Actual, d.RTO.Met = 2*time.Hour, false }, "RTO 2h0m0s over target 1h0m0s"},
		{"RTO not reached", func(d *DrillReport) { d.RTO.Measured = false }, "RTO"},
		{"RPO not met", func(d *DrillReport) { d.RPO.Met = false }, "RPO 5h0m0s over target 24h0m0s"},
		{"check failed", func(d *DrillReport) { d.Checks[1].Result = ResultFailed }, "check rows cases failed"},
		{"step interrupted", func(d *DrillReport) { d.Steps[2].Result = ResultInterrupted }, "step check 3/12 interrupted"},
		{"cleanup failed", func(d *DrillReport) { d.Cleanup.Result = ResultFailed }, "cleanup failed"},
		{"deviation", func(d *DrillReport) { d.Deviations = []string{"restored to the wrong scratch bucket"} }, "restored to the wrong scratch bucket"},
		{"failures", func(d *DrillReport) { d.Failures = []string{"check files failed"} }, "check files failed"},
		{"no targets", func(d *DrillReport) { d.RTO.Target, d.RPO.Target = 0, 0 }, "set drills.rto_target and drills.rpo_target"},
		{"no result", func(d *DrillReport) { d.Result = "" }, `result ""`},
		{"unknown result", func(d *DrillReport) { d.Result = "ok" }, `result "ok"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := fixtureDrill(t)
			tt.modify(d)
			_, err := RenderDrillReport(io.Discard, d, renderOptions(t))
			if !errors.Is(err, ErrInvalidEvidence) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want ErrInvalidEvidence naming %q", err, tt.want)
			}
		})
	}
}

// TestFailedDrillReportVerifies: a failed drill's signed report says
// failed with the record's problems, in the PDF and in what Verify reads
// back from its embedded record.
func TestFailedDrillReportVerifies(t *testing.T) {
	d := fixtureDrill(t)
	d.Cleanup.Result, d.Cleanup.Detail = ResultFailed, "scratch database still listed"
	d.Result = ResultFailed
	d.Failures = []string{"cleanup failed: scratch database still listed"}
	dir := t.TempDir()
	s, _ := testSigner(t, dir)
	path, _, err := WriteSigned(context.Background(), dir, "drill.pdf", func(w io.Writer) (*Rendered, error) {
		return RenderDrillReport(w, d, renderOptions(t))
	}, s)
	if err != nil {
		t.Fatal(err)
	}
	text := normalise(pdftotext(t, path))
	for _, want := range []string{"総合結果 Overall result: 不合格 / failed", "1. cleanup failed: scratch database still listed",
		"逸脱 / Deviation cleanup failed: scratch database still listed", "RTO (復元+検証 restore+verify) 18.0 min 60.0 min 達成 met"} {
		if !strings.Contains(text, want) {
			t.Errorf("a failed drill's report lacks %q:\n%s", want, text)
		}
	}
	res, err := Verify(context.Background(), path, VerifyOptions{Fingerprint: fingerprint(t, s)})
	if err != nil {
		t.Fatalf("Verify: %v\n%s", err, res)
	}
	if res.Status != "failed" || strings.Join(res.Exceptions, "|") != strings.Join(d.Failures, "|") {
		t.Fatalf("Verify reads status %q, exceptions %q; want failed, %q", res.Status, res.Exceptions, d.Failures)
	}
}

// TestDrillOverallOfOlderReports: a report rendered before reports carried
// the record's result (Verify reads them from the PDF) is judged as it was
// then.
func TestDrillOverallOfOlderReports(t *testing.T) {
	tests := []struct {
		name   string
		modify func(d *DrillReport)
		want   Result
	}{
		{"all passed", func(*DrillReport) {}, ResultPassed},
		{"RTO missed", func(d *DrillReport) { d.RTO.Actual = 2 * time.Hour }, ResultFailed},
		{"check failed", func(d *DrillReport) { d.Checks[1].Result = ResultFailed }, ResultFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := fixtureDrill(t)
			d.Result, d.RTO, d.RPO = "", Objective{Actual: d.RTO.Actual, Target: d.RTO.Target}, Objective{Actual: d.RPO.Actual, Target: d.RPO.Target}
			tt.modify(d)
			if got := d.Overall(); got != tt.want {
				t.Fatalf("Overall = %s, want %s (%q)", got, tt.want, d.Problems())
			}
		})
	}
}

func TestSizeUnitAndAxisLabels(t *testing.T) {
	for _, c := range []struct {
		max  int64
		unit string
	}{{0, "B"}, {720, "B"}, {5 << 10, "KiB"}, {300 << 20, "MiB"}, {52 << 30, "GiB"}, {3 << 40, "TiB"}} {
		if u, _ := sizeUnit(c.max); u != c.unit {
			t.Errorf("sizeUnit(%d) = %s, want %s", c.max, u, c.unit)
		}
	}
	for v, want := range map[float64]string{0.000000004: "4e-09", 0.25: "0.25", 12.5: "12.5", 20000: "20000", 1234.5: "1234"} {
		if got := trimFloat(v); got != want {
			t.Errorf("trimFloat(%v) = %s, want %s", v, got, want)
		}
	}
}

// TestCapacityReportUnhappyPaths: a repository that could not be read at
// report time says so (never 0 snapshots, 0 bytes), and a failed drill is
// marked on the RTO trend and given no RTO in the table.
func TestCapacityReportUnhappyPaths(t *testing.T) {
	c := fixtureCapacity(t)
	c.Repositories[1].Stored = nil
	c.Repositories[1].Unreadable = `repository "replica-osaka": dial tcp 10.0.0.9:443: connection refused`
	pdf, _ := renderTo(t, func(w io.Writer) (*Rendered, error) { return RenderCapacityReport(w, c, renderOptions(t)) })
	path := filepath.Join(t.TempDir(), "capacity.pdf")
	if err := os.WriteFile(path, pdf, 0o644); err != nil {
		t.Fatal(err)
	}
	text := pdftotext(t, path)
	rows := map[string]string{}
	for _, l := range strings.Split(text, "\n") {
		if name, _, ok := strings.Cut(l, " "); ok && rows[name] == "" {
			rows[name] = l
		}
	}
	if r := rows["replica-osaka"]; strings.Count(r, "読み取り不可") != 2 || strings.Contains(r, "0 (data 0)") {
		t.Errorf("unreadable repository's row %q: want 読み取り不可 for size and snapshots", r)
	}
	if r := rows["primary-repo"]; !strings.Contains(r, "2.0 GiB") || !strings.Contains(r, "124 (data 62)") || !strings.Contains(r, "+0.27") {
		t.Errorf("readable repository's row %q: want 2.0 GiB, 124 (data 62) and +0.27 added", r)
	}
	norm := normalise(text)
	// A wrapped value has its label beside its middle line.
	if !strings.Contains(norm, "読み取り不可 / Unreadable") {
		t.Errorf("capacity report does not list the unreadable repository:\n%s", text)
	}
	norm = strings.ReplaceAll(norm, "読み取り不可 / Unreadable ", "")
	for _, want := range []string{"replica-osaka: " + c.Repositories[1].Unreadable,
		"1 failed or interrupted drill(s) are not on the lines"} {
		if !strings.Contains(norm, want) {
			t.Errorf("capacity report lacks %q:\n%s", want, text)
		}
	}
	if r := rows["DRILL-2027-01-08"]; !strings.Contains(r, "—") || strings.Contains(r, "0.1 min") || strings.Contains(r, "4.0 s") || !strings.Contains(r, "不合格 failed") {
		t.Errorf("failed drill's row %q: want no RTO, failed", r)
	}
}

// TestSplitTrend: only passed drills have a figure on the trend; each
// other drill is a mark, counted.
func TestSplitTrend(t *testing.T) {
	points := []DrillPoint{{RTO: time.Minute, Result: ResultPassed}, {RTO: 4 * time.Second, Result: ResultFailed},
		{RTO: 3 * time.Minute, Result: ResultInterrupted}, {RTO: 2 * time.Minute, Result: ResultPassed}}
	tr := splitTrend(points, func(p DrillPoint) float64 { return p.RTO.Minutes() })
	isNaN := func(v float64) bool { return v != v }
	if tr.passed[0] != 1 || !isNaN(tr.passed[1]) || !isNaN(tr.passed[2]) || tr.passed[3] != 2 {
		t.Errorf("plotted %v: want 1, NaN, NaN, 2", tr.passed)
	}
	if !isNaN(tr.failed[0]) || tr.failed[1] != 0 || tr.failed[2] != 0 || !isNaN(tr.failed[3]) || tr.nFailed != 2 {
		t.Errorf("marked %v (%d): want NaN, 0, 0, NaN (2)", tr.failed, tr.nFailed)
	}
}

// TestJapaneseTextKeptWhole: wrapped Japanese text keeps every character
// (fpdf's SplitText drops the kanji at each break), and ≤, which IPAex
// Gothic lacks, is printed as ≦.
func TestJapaneseTextKeptWhole(t *testing.T) {
	msg := "スクラッチ領域の削除を確認できませんでした。復元先のデータベースが一覧に残っているため、手順書に従って手作業で削除し、削除の確認結果を記録してください。"
	d := fixtureDrill(t)
	d.Cleanup.Result = ResultFailed
	d.Checks[0].Expected = "≤ 42"
	d.Result, d.Failures = ResultFailed, []string{"cleanup failed: " + msg}
	pdf, _ := renderTo(t, func(w io.Writer) (*Rendered, error) { return RenderDrillReport(w, d, renderOptions(t)) })
	path := filepath.Join(t.TempDir(), "drill.pdf")
	if err := os.WriteFile(path, pdf, 0o644); err != nil {
		t.Fatal(err)
	}
	text := pdftotext(t, path)
	flat := strings.Join(strings.Fields(text), "")
	if !strings.Contains(flat, "1.cleanupfailed:"+msg) {
		t.Errorf("the overall result box lost characters of %q:\n%s", msg, text)
	}
	// A wrapped deviation has its label beside its middle line.
	if n := strings.Count(strings.ReplaceAll(flat, "逸脱/Deviation", ""), "cleanupfailed:"+msg); n != 2 {
		t.Errorf("%q is whole %d times, want 2 (result box and deviation):\n%s", msg, n, text)
	}
	if strings.Contains(text, "≤") || !strings.Contains(text, "≦ 42") {
		t.Errorf("≤ is not printed as ≦:\n%s", text)
	}
}

// TestSplitText: lines fit their width, join back to the text, and do not
// start with closing punctuation.
func TestSplitText(t *testing.T) {
	r, err := newReport(KindDrill, "x", at(19, 30), renderOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	r.keepText = true
	texts := []string{
		"当社は、下記契約に係る全ての情報(バックアップ等による複製を含む)を下記の方法により消去したことを証明します。",
		"保管量と件数 (スナップショット数、うちデータ) は、この報告書の作成時に各リポジトリから restic で読み取った現在の値です。",
		"check RTO (restore and verify) failed: expected ≤ 4h0m0s, got not reached: the data was not restored and verified",
		"s3://backup-osaka.example.jp/steward-with-a-very-long-prefix-that-has-no-spaces",
		"— (コピーは記録なし copies not recorded)",
	}
	for _, txt := range texts {
		for _, w := range []float64{18, 27, 45, 86} {
			lines := r.splitText(txt, w)
			joined := strings.Join(lines, "")
			want := glyphSubstitutes.Replace(txt)
			if strip(joined) != strip(want) {
				t.Errorf("width %v: lines %q do not join back to %q", w, lines, want)
			}
			for i, l := range lines {
				if lw := r.f.GetStringWidth(l); lw > w-2*r.f.GetCellMargin()+0.01 && len([]rune(l)) > 1 {
					t.Errorf("width %v: line %q is %.1f mm wide", w, l, lw)
				}
				if i > 0 && strings.ContainsAny(l[:len(string([]rune(l)[0]))], "、。)」") {
					t.Errorf("width %v: line %q starts with closing punctuation", w, l)
				}
			}
		}
	}
}

func strip(s string) string { return strings.Join(strings.Fields(s), "") }
