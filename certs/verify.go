package certs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/digitorus/pdf"
	"github.com/digitorus/pdfsign/verify"
	"github.com/digitorus/pkcs7"
	"github.com/klauspost/compress/zstd"

	"steward/internal/audit"
	"steward/internal/errs"
	"steward/internal/keys"
)

// VerifyOptions pins the expected signer. With neither field set the
// signature is checked against the certificate it carries, and the
// result says the signer was not pinned.
type VerifyOptions struct {
	// CertFile is a PEM certificate the signer must match.
	CertFile string
	// Fingerprint is the signer certificate's expected SHA-256
	// fingerprint in hex (colons and case are ignored).
	Fingerprint string
	// AllowSpecimen accepts a specimen (見本) as such: it is then reported
	// as a specimen with a warning instead of failing verification.
	AllowSpecimen bool
	// AuditLog is an export of the audit log (`steward audit export`)
	// that must hold, in one intact chain, the audit head the report
	// carries (and a deletion certificate's evidence head).
	AuditLog string
}

// VerifyResult is what Verify found. Failed lists every check that did not
// hold, each phrased for the reader; empty means the report is authentic.
type VerifyResult struct {
	File string `json:"file"`
	// Kind is deletion-certificate, drill-report, capacity-report or
	// handover-receipt.
	Kind string `json:"kind"`
	// ID is the certificate id (管理番号), drill id or report id.
	ID string `json:"id"`

	Signer             string     `json:"signer"`
	SignerSubject      string     `json:"signer_subject"`
	SignerFingerprint  string     `json:"signer_fingerprint"`
	SignerPinned       bool       `json:"signer_pinned"`
	Reason             string     `json:"reason,omitempty"`
	Location           string     `json:"location,omitempty"`
	SigningTime        *time.Time `json:"signing_time,omitempty"`
	TimestampTime      *time.Time `json:"timestamp_time,omitempty"`
	TimestampAuthority string     `json:"timestamp_authority,omitempty"`

	// DataSHA256 is the recomputed hash of the embedded data; ClaimedSHA256
	// the hash the report records.
	DataSHA256    string `json:"data_sha256"`
	ClaimedSHA256 string `json:"claimed_sha256"`

	// Specimen is set for a document marked SPECIMEN / 見本 (or a
	// deletion certificate that does not say it is not one): it certifies
	// nothing.
	Specimen bool `json:"specimen"`

	Contract   string   `json:"contract,omitempty"`
	Status     string   `json:"status,omitempty"`
	Exceptions []string `json:"exceptions,omitempty"`
	// AuditHead is a deletion certificate's evidence head: the audit log
	// after the erasure.
	AuditHead *AuditHead `json:"audit_head,omitempty"`
	// ReportAuditHead is the audit-log head the report saw when it was
	// made (nil for reports made before Steward recorded it).
	ReportAuditHead *AuditHead     `json:"report_audit_head,omitempty"`
	Objects         ObjectsSummary `json:"objects"`
	// ManifestSHA256 is a hand-over receipt's manifest hash: the SHA-256
	// of the handover-manifest.json delivered with the data.
	ManifestSHA256 string `json:"manifest_sha256,omitempty"`

	Checks   []string `json:"checks"`
	Failed   []string `json:"failed"`
	Warnings []string `json:"warnings,omitempty"`
}

// OK reports whether every check passed.
func (r *VerifyResult) OK() bool { return len(r.Failed) == 0 }

func (r *VerifyResult) pass(s string) { r.Checks = append(r.Checks, s) }

func (r *VerifyResult) fail(format string, a ...any) {
	r.Failed = append(r.Failed, fmt.Sprintf(format, a...))
}

// Verify checks the signed report at path: one signature, valid, covering
// the whole file; the signer certificate (and, when opts pin one, that it
// is that certificate); the embedded data's SHA-256 against the hash the
// report records; the data's id against the report's; that the report is
// not a specimen (unless opts allow one); and, with opts.AuditLog, that the
// export holds the audit head the report carries. It returns the
// result and, when a check failed, an error wrapping ErrVerificationFailed.
// Other errors (unreadable file, bad options) are returned as they are.
func Verify(ctx context.Context, path string, opts VerifyOptions) (*VerifyResult, error) {
	want, err := expectedFingerprint(opts)
	if err != nil {
		return nil, err
	}
	var export *os.File
	if opts.AuditLog != "" {
		if export, err = os.Open(opts.AuditLog); err != nil {
			return nil, fmt.Errorf("--audit-log: %w", err)
		}
		defer export.Close()
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	res := &VerifyResult{File: path, Failed: []string{}, Checks: []string{}}
	func() {
		defer func() {
			if r := recover(); r != nil {
				res.fail("the PDF is damaged: %v", r)
			}
		}()
		verifyFile(ctx, f, st.Size(), want, res)
	}()
	checkSpecimen(opts.AllowSpecimen, res)
	if export != nil {
		checkAuditLog(export, res)
	}
	if !res.OK() {
		return res, fmt.Errorf("%s: %w: %s", path, ErrVerificationFailed, strings.Join(res.Failed, "; "))
	}
	return res, nil
}

func expectedFingerprint(opts VerifyOptions) (string, error) {
	var want string
	if opts.CertFile != "" {
		c, err := keys.LoadCertificate(opts.CertFile)
		if err != nil {
			return "", errs.AsUsage(fmt.Errorf("--cert: %w", err))
		}
		want = keys.Fingerprint(c)
	}
	if opts.Fingerprint != "" {
		fp := strings.ToLower(strings.NewReplacer(":", "", " ", "").Replace(opts.Fingerprint))
		if b, err := hex.DecodeString(fp); err != nil || len(b) != sha256.Size {
			return "", errs.Usage("--fingerprint: want the certificate's SHA-256 fingerprint, 64 hex digits")
		}
		if want != "" && want != fp {
			return "", errors.New("--cert and --fingerprint name different certificates: give one")
		}
		want = fp
	}
	return want, nil
}

func verifyFile(ctx context.Context, f *os.File, size int64, wantFP string, res *VerifyResult) {
	rdr, err := pdf.NewReader(f, size)
	if err != nil {
		res.fail("the file is not a readable PDF: %v", err)
		return
	}
	// 1. The signature: exactly one, over the whole file.
	var sigs []pdf.Value
	for _, x := range rdr.Xref() {
		v := rdr.Resolve(x.Ptr(), x.Ptr())
		if v.Kind() == pdf.Dict && v.Key("Filter").Name() == "Adobe.PPKLite" {
			sigs = append(sigs, v)
		}
	}
	switch {
	case len(sigs) == 0:
		res.fail("%v", ErrNotSigned)
	case len(sigs) > 1:
		res.fail("the PDF carries %d signatures; a Steward report has exactly one", len(sigs))
	default:
		checkSignature(f, size, sigs[0], wantFP, res)
	}
	if err := ctx.Err(); err != nil {
		res.fail("verification interrupted: %v", err)
		return
	}
	// 2. The embedded data against the recorded claim.
	kw := parseKeywords(rdr.Trailer().Key("Info").Key("Keywords").Text())
	res.Kind, res.ID, res.ClaimedSHA256 = kw["steward.kind"], kw["steward.id"], kw["steward.data-sha256"]
	if res.Kind == "" || res.ClaimedSHA256 == "" {
		res.fail("the PDF records no Steward report kind or data hash: it is not a Steward report")
		return
	}
	res.Specimen = isSpecimen(res.Kind, kw)
	if head, err := keywordHead(kw); err != nil {
		res.fail("the report's audit-log head cannot be read: %v", err)
	} else {
		res.ReportAuditHead = head
	}
	checkData(rdr, res)
}

// checkSignature checks the report's one signature: what it covers, its
// value, its signer certificate and, when wantFP is set, that the signer
// is the expected one.
func checkSignature(f *os.File, size int64, sig pdf.Value, wantFP string, res *VerifyResult) {
	res.Signer = sig.Key("Name").Text()
	res.Reason = sig.Key("Reason").Text()
	res.Location = sig.Key("Location").Text()
	if !checkCoverage(f, size, sig, res) {
		return
	}
	cert := signerCertificate(sig, res)
	if cert == nil {
		return
	}
	checkSignatureValue(f, size, cert, res)
	checkValidAtSigning(cert, res)
	checkPinned(wantFP, res)
}

// checkCoverage checks that the signature's byte range covers the whole
// document. It returns false when the byte range is malformed, and the
// signature cannot be checked further.
func checkCoverage(f *os.File, size int64, sig pdf.Value, res *VerifyResult) bool {
	br := sig.Key("ByteRange")
	if br.Len() != 4 {
		res.fail("the signature's byte range is malformed")
		return false
	}
	a, b, c, d := br.Index(0).Int64(), br.Index(1).Int64(), br.Index(2).Int64(), br.Index(3).Int64()
	edge := make([]byte, 1)
	gapOK := a == 0 && b > 0 && c > b && c+d == size
	if gapOK {
		// The only bytes left out must be the signature value itself.
		_, err1 := f.ReadAt(edge, b)
		gapOK = err1 == nil && edge[0] == '<'
		_, err2 := f.ReadAt(edge, c-1)
		gapOK = gapOK && err2 == nil && edge[0] == '>'
	}
	if !gapOK {
		res.fail("the signature does not cover the whole document (byte range %d+%d, %d+%d of %d bytes)", a, b, c, d, size)
	} else {
		res.pass("signature covers the whole document")
	}
	return true
}

// signerCertificate is the one signer certificate the signature value
// names, recorded in res; nil (and a failed check) when there is none.
func signerCertificate(sig pdf.Value, res *VerifyResult) *x509.Certificate {
	p7, err := pkcs7.Parse([]byte(sig.Key("Contents").RawString()))
	if err != nil {
		res.fail("the signature value cannot be read: %v", err)
		return nil
	}
	cert := p7.GetOnlySigner()
	if cert == nil {
		res.fail("the signature names no single signer certificate")
		return nil
	}
	res.SignerSubject = cert.Subject.String()
	res.SignerFingerprint = keys.Fingerprint(cert)
	return cert
}

// checkSignatureValue checks the signature over the signed bytes, signed
// by cert, and records its signing and timestamp times.
func checkSignatureValue(f *os.File, size int64, cert *x509.Certificate, res *VerifyResult) {
	vopts := verify.DefaultVerifyOptions()
	// Steward's certificates are self-signed and pinned by fingerprint:
	// the chain is the certificate itself. emailProtection stands in for
	// the document-signing EKU, which pdfsign does not know.
	vopts.AllowUntrustedRoots = true
	vopts.RequiredEKUs = nil
	vopts.AllowedEKUs = []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection, x509.ExtKeyUsage(36)}
	resp, err := verify.VerifyWithOptions(f, size, vopts)
	switch {
	case err != nil:
		res.fail("signature check: %v", err)
	case len(resp.Signers) != 1:
		res.fail("the signature is invalid (the signed bytes do not match the signature)")
	case resp.Error != "":
		// pdfsign reports a digest mismatch here, not as an error.
		res.fail("the signature is invalid: %s", resp.Error)
	case !resp.Signers[0].ValidSignature:
		res.fail("the signature is invalid")
	default:
		res.pass("signature is valid (SHA-256, signer " + res.SignerSubject + ")")
		checkSigner(resp.Signers[0], cert, res)
	}
}

// checkSigner records the times of a valid signature and checks its
// timestamp and signer certificate as pdfsign found them.
func checkSigner(s verify.Signer, cert *x509.Certificate, res *VerifyResult) {
	if s.SignatureTime != nil {
		t := *s.SignatureTime
		res.SigningTime = &t
	}
	if s.TimeStamp != nil {
		t := s.TimeStamp.Time
		res.TimestampTime = &t
		if res.SigningTime == nil {
			res.SigningTime = &t
		}
		if len(s.TimeStamp.Certificates) > 0 {
			res.TimestampAuthority = s.TimeStamp.Certificates[0].Subject.String()
		}
		res.pass("RFC 3161 timestamp matches the signature")
	}
	if s.RevokedCertificate {
		res.fail("the signer certificate is revoked")
	}
	for _, c := range s.Certificates {
		if c.Certificate != nil && c.Certificate.Equal(cert) && c.VerifyError != "" {
			res.fail("the signer certificate is not valid: %s", c.VerifyError)
		}
	}
}

// checkValidAtSigning checks that cert was valid at the signing time (now
// when the signature records none).
func checkValidAtSigning(cert *x509.Certificate, res *VerifyResult) {
	at := time.Now()
	if res.SigningTime != nil {
		at = *res.SigningTime
	}
	if at.Before(cert.NotBefore) || at.After(cert.NotAfter) {
		res.fail("the signer certificate was not valid at signing time %s (valid %s to %s)", at.Format(time.RFC3339), cert.NotBefore.Format(time.RFC3339), cert.NotAfter.Format(time.RFC3339))
	}
}

// checkPinned checks the signer against the expected fingerprint, or
// warns that none was given.
func checkPinned(wantFP string, res *VerifyResult) {
	switch {
	case wantFP == "":
		res.Warnings = append(res.Warnings, "signer not pinned: compare the signer fingerprint with the one the provider gave you, or pass --cert or --fingerprint")
	case wantFP == res.SignerFingerprint:
		res.SignerPinned = true
		res.pass("signer is the expected certificate")
	default:
		res.fail("the signer certificate (SHA-256 %s) is not the expected one (%s)", res.SignerFingerprint, wantFP)
	}
}

// checkData extracts the one embedded file, recomputes its hash and reads
// it.
func checkData(rdr *pdf.Reader, res *VerifyResult) {
	names := rdr.Trailer().Key("Root").Key("Names").Key("EmbeddedFiles").Key("Names")
	if names.Len() != 2 {
		res.fail("the PDF should embed exactly one data file; it embeds %d", names.Len()/2)
		return
	}
	name := names.Index(0).Text()
	stream := names.Index(1).Key("EF").Key("F")
	if stream.Kind() != pdf.Stream {
		res.fail("the embedded data file %q has no content", name)
		return
	}
	dec, err := zstd.NewReader(stream.Reader(), zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(1<<30))
	if err != nil {
		res.fail("the embedded data is not zstd: %v", err)
		return
	}
	defer dec.Close()
	h := sha256.New()
	tee := io.TeeReader(dec, h)
	readErr := readData(tee, res)
	// Hash whatever the decoder left unread, so the hash covers it all.
	if _, err := io.Copy(io.Discard, tee); err != nil && readErr == nil {
		readErr = fmt.Errorf("decompress: %w", err)
	}
	res.DataSHA256 = hex.EncodeToString(h.Sum(nil))
	if res.DataSHA256 != res.ClaimedSHA256 {
		res.fail("the embedded data's SHA-256 %s is not the one the report records (%s): the evidence was replaced", res.DataSHA256, res.ClaimedSHA256)
	} else {
		res.pass("embedded data matches the recorded SHA-256")
	}
	if readErr != nil {
		res.fail("the embedded data cannot be read: %v", readErr)
	}
}

func readData(r io.Reader, res *VerifyResult) error {
	var id string
	switch res.Kind {
	case KindCertificate:
		ev, sum, err := DecodeEvidence(r, nil)
		if err != nil {
			return err
		}
		id = ev.CertificateID
		res.Contract = ev.Contract.ID
		res.Status = ev.Status()
		res.Exceptions = ev.Exceptions()
		head := ev.AuditHead
		res.AuditHead = &head
		res.Objects = sum
	case KindDrill:
		var d DrillReport
		if err := json.NewDecoder(r).Decode(&d); err != nil {
			return err
		}
		id, res.Contract, res.Status = d.DrillID, d.Contract, string(d.Overall())
		res.Exceptions = d.Problems()
	case KindCapacity:
		var c CapacityReport
		if err := json.NewDecoder(r).Decode(&c); err != nil {
			return err
		}
		id, res.Contract = c.ID(), c.Contract
	case KindHandover:
		var h HandoverReceipt
		if err := json.NewDecoder(r).Decode(&h); err != nil {
			return err
		}
		id, res.Contract, res.ManifestSHA256 = h.ExportID, h.Contract, h.ManifestSHA256
	case KindRecovery:
		var s RecoverySheet
		if err := json.NewDecoder(r).Decode(&s); err != nil {
			return err
		}
		id, res.Contract = s.KitID, s.Contract
	default:
		return fmt.Errorf("unknown report kind %q", res.Kind)
	}
	if id != res.ID {
		res.fail("the embedded data is for %q but the report records %q", id, res.ID)
	}
	return nil
}

// String formats the result for the operator: one line per fact, then
// every failed check.
func (r *VerifyResult) String() string {
	var b bytes.Buffer
	line := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, "%-18s %s\n", k+":", v)
		}
	}
	line("file", r.File)
	if r.Specimen {
		line("SPECIMEN", "見本: this document is a specimen and certifies nothing")
	}
	line("kind", r.Kind)
	line("id", r.ID)
	line("contract", r.Contract)
	line("status", r.Status)
	for _, e := range r.Exceptions {
		line("exception", e)
	}
	line("signer", r.Signer)
	line("signer subject", r.SignerSubject)
	line("signer sha-256", r.SignerFingerprint)
	if r.SigningTime != nil {
		line("signing time", r.SigningTime.Format(time.RFC3339))
	}
	if r.TimestampTime != nil {
		line("timestamp (TSA)", r.TimestampTime.Format(time.RFC3339)+" "+r.TimestampAuthority)
	}
	line("data sha-256", r.DataSHA256)
	line("manifest sha-256", r.ManifestSHA256)
	if r.ReportAuditHead != nil {
		line("audit head", fmt.Sprintf("seq %d %s (when the report was made)", r.ReportAuditHead.Seq, r.ReportAuditHead.Hash))
	}
	if r.AuditHead != nil {
		line("evidence head", fmt.Sprintf("seq %d %s (after the erasure, as the evidence records it)", r.AuditHead.Seq, r.AuditHead.Hash))
	}
	for _, c := range r.Checks {
		line("ok", c)
	}
	for _, w := range r.Warnings {
		line("warning", w)
	}
	for _, f := range r.Failed {
		line("FAILED", f)
	}
	if r.OK() && r.Specimen {
		b.WriteString("result:            all checks passed, and it is a SPECIMEN / 見本: it certifies nothing\n")
	} else if r.OK() {
		b.WriteString("result:            all checks passed\n")
	} else {
		fmt.Fprintf(&b, "result:            %d check(s) failed\n", len(r.Failed))
	}
	return b.String()
}

// checkSpecimen fails a specimen, or, when specimens are allowed, warns
// that it is one.
func checkSpecimen(allow bool, res *VerifyResult) {
	if !res.Specimen {
		return
	}
	what := "this document is marked SPECIMEN / 見本"
	if res.Kind == KindCertificate {
		what = "this deletion certificate is a SPECIMEN / 見本: it was not issued by erase from its own verified evidence"
	}
	if allow {
		res.Warnings = append(res.Warnings, what+"; it certifies nothing")
		return
	}
	res.fail("%s, so it certifies nothing (pass --allow-specimen to check it as a specimen)", what)
}

// checkAuditLog checks that the export holds, in one intact chain, the
// audit head the report carries and, for a deletion certificate issued by
// erase, the evidence's head.
func checkAuditLog(export io.Reader, res *VerifyResult) {
	type head struct {
		what string
		h    *AuditHead
	}
	heads := []head{{"the report's audit-log head", res.ReportAuditHead}}
	if res.Kind == KindCertificate && res.AuditHead != nil {
		if res.Specimen {
			res.Warnings = append(res.Warnings, "the specimen's evidence head is not checked against the audit log: a specimen's evidence is not Steward's")
		} else {
			heads = append(heads, head{"the evidence's audit-log head", res.AuditHead})
		}
	}
	var want []int64
	for _, h := range heads {
		if h.h != nil {
			want = append(want, int64(h.h.Seq))
		}
	}
	ec, err := audit.CheckExport(export, want...)
	if err != nil {
		res.fail("the audit-log export cannot be read: %v", err)
		return
	}
	if ec.Problem != "" {
		res.fail("the audit-log export is not an intact chain: %s", ec.Problem)
		return
	}
	for _, h := range heads {
		if h.h == nil {
			res.fail("%s is not recorded (a report made before Steward recorded it): it cannot be checked against the audit log", h.what)
			continue
		}
		if err := ec.Holds(int64(h.h.Seq), h.h.Hash); err != nil {
			res.fail("%s (seq %d) is not in the audit-log export: %v", h.what, h.h.Seq, err)
			continue
		}
		res.pass(fmt.Sprintf("%s (seq %d) is in the audit-log export's chain (seq %d to %d)", h.what, h.h.Seq, ec.First, ec.Last))
	}
}
