package certs

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"steward/internal/config"
	"steward/internal/keys"
)

// The fuzz seed: a real deletion certificate, signed by a test key made
// for it, and that key's certificate fingerprint. go test -run
// TestFuzzSeedCertificate -update ./certs/ makes a new pair.
const (
	seedPDF         = "testdata/signed-certificate.pdf"
	seedFingerprint = "testdata/signed-certificate.sha256"
)

// TestFuzzSeedCertificate checks that the fuzz seed still verifies as an
// authentic certificate from its pinned signer (with -update it signs a
// new one first).
func TestFuzzSeedCertificate(t *testing.T) {
	if *updateGolden {
		// The signer certificate is valid for 50 years: without a TSA
		// timestamp its validity is checked at the time of verification,
		// and the seed must not expire under the tests that use it.
		dir := t.TempDir()
		cfg := config.Signing{Certificate: filepath.Join(dir, "signing.crt"), Key: filepath.Join(dir, "signing.key"),
			Signer: "運用責任者 山田太郎", Location: "Tokyo, Japan"}
		if _, err := keys.CreateSigningCertificate(cfg.Certificate, cfg.Key,
			keys.SigningSubject{CommonName: "Steward fuzz seed signer", Organisation: "Sample Ops K.K.", Country: "JP"},
			time.Now(), 50*365*24*time.Hour); err != nil {
			t.Fatal(err)
		}
		s, err := NewSigner(cfg, "データ消去証明 / certificate of data deletion", nil)
		if err != nil {
			t.Fatal(err)
		}
		_, signed := signedCertificate(t, dir, s, false)
		if err := os.WriteFile(seedPDF, signed, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(seedFingerprint, []byte(fingerprint(t, s)+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	signed, fp := fuzzSeed(t)
	path := filepath.Join(t.TempDir(), "seed.pdf")
	if err := os.WriteFile(path, signed, 0o600); err != nil {
		t.Fatal(err)
	}
	res, err := Verify(context.Background(), path, VerifyOptions{Fingerprint: fp})
	if err != nil || !res.OK() || !res.SignerPinned || res.Kind != KindCertificate {
		t.Fatalf("the fuzz seed does not verify: %v\n%v", err, res)
	}
}

// fuzzSeed reads the signed seed certificate and its signer's fingerprint.
func fuzzSeed(t testing.TB) ([]byte, string) {
	t.Helper()
	signed, err := os.ReadFile(seedPDF)
	if err != nil {
		t.Fatalf("%v (go test -run TestFuzzSeedCertificate -update ./certs/ makes it)", err)
	}
	fp, err := os.ReadFile(seedFingerprint)
	if err != nil {
		t.Fatal(err)
	}
	return signed, strings.TrimSpace(string(fp))
}

// signedRanges returns the byte range a signature's /ByteRange names
// (the signed bytes are [0,b) and [c,end)), or ok false.
func signedRanges(pdf []byte) (b, c int, ok bool) {
	ms := byteRangeRE.FindAllSubmatch(pdf, -1)
	if len(ms) != 1 {
		return 0, 0, false
	}
	b, err1 := strconv.Atoi(string(ms[0][2]))
	c, err2 := strconv.Atoi(string(ms[0][3]))
	return b, c, err1 == nil && err2 == nil && b > 0 && c > b && c <= len(pdf)
}

// FuzzVerify: Verify never panics on any file; it never calls a signature
// valid unless every signed byte is the seed certificate's, and never
// calls a file authentic (from the pinned signer) unless the file is the
// seed but for the signature value itself (the unsigned gap), changed in
// ways that leave the signature valid.
func FuzzVerify(f *testing.F) {
	signed, fp := fuzzSeed(f)
	f.Add(signed)
	f.Add(signed[:len(signed)/2])
	f.Add(append(bytes.Clone(signed), "\n% appended\n"...))
	f.Add([]byte("%PDF-1.7\n%%EOF\n"))
	f.Add([]byte{})
	sb, sc, ok := signedRanges(signed)
	if !ok {
		f.Fatal("the seed has no single /ByteRange")
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "fuzz.pdf")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		res, err := Verify(context.Background(), path, VerifyOptions{Fingerprint: fp})
		if res == nil {
			t.Fatalf("Verify returned no result: %v", err)
		}
		if err != nil && !errors.Is(err, ErrVerificationFailed) {
			t.Fatalf("Verify: %v (want ErrVerificationFailed for a bad file)", err)
		}
		if (err == nil) != res.OK() {
			t.Fatalf("Verify err %v but OK() = %v", err, res.OK())
		}
		// A valid signature means the signed bytes are the seed's (bytes
		// after them, an incremental update, fail the coverage check).
		if slices.ContainsFunc(res.Checks, func(c string) bool { return strings.HasPrefix(c, "signature is valid") }) &&
			(len(data) < len(signed) || !bytes.Equal(data[:sb], signed[:sb]) || !bytes.Equal(data[sc:len(signed)], signed[sc:])) {
			t.Fatalf("Verify calls the signature of a changed document valid:\n%v", res)
		}
		if !res.OK() {
			return
		}
		if len(data) != len(signed) || !bytes.Equal(data[:sb], signed[:sb]) || !bytes.Equal(data[sc:], signed[sc:]) {
			t.Fatalf("Verify calls a changed document authentic:\n%v", res)
		}
	})
}

// FuzzDecodeEvidence: DecodeEvidence never panics; an accepted bundle
// writes back (WriteJSON) to one that decodes to the same evidence and
// object summary.
func FuzzDecodeEvidence(f *testing.F) {
	for _, exc := range []bool{false, true} {
		var b bytes.Buffer
		if _, err := fixtureEvidence(f, exc).WriteJSON(&b); err != nil {
			f.Fatal(err)
		}
		f.Add(b.Bytes())
	}
	if ex, err := os.ReadFile("../examples/evidence.json"); err == nil {
		f.Add(ex)
	}
	for _, s := range []string{`{}`, `{"objects":[]}`, `{"objects":null}`, `{"objects":[{}],"objects_summary":{"count":1,"bytes":0}}`,
		`{"objects_summary":{"count":1,"bytes":0}}`, `[]`, `{"schema":1}`, `{"objects":[{"size":-1}]}`, `{"targets":[{"started":"x"}]}`, ``,
		// Object fields that strconv.Quote escapes in ways JSON does not
		// allow (\a, \x7f, \U0001xxxx): the writer must still write JSON.
		`{"targets":[{"id":"\u0007"}],"objects":[{"target":"\u0007","key_sha256":"\u007f","version_id":"\ud834\udd1e\u200b\ufeff","size":1}]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var objs []Object
		ev, sum, err := DecodeEvidence(bytes.NewReader(data), func(o Object) error { objs = append(objs, o); return nil })
		if err != nil {
			if !errors.Is(err, ErrInvalidEvidence) {
				t.Fatalf("DecodeEvidence: %v does not wrap ErrInvalidEvidence", err)
			}
			return
		}
		if sum.Count != int64(len(objs)) {
			t.Fatalf("summary counts %d objects, %d were passed on", sum.Count, len(objs))
		}
		ev.Objects = ObjectSlice(objs)
		var out bytes.Buffer
		wsum, err := ev.WriteJSON(&out)
		if err != nil {
			return // WriteJSON refuses what it cannot write (e.g. an out-of-range time)
		}
		var again []Object
		ev2, sum2, err := DecodeEvidence(bytes.NewReader(out.Bytes()), func(o Object) error { again = append(again, o); return nil })
		if err != nil {
			t.Fatalf("a bundle WriteJSON wrote does not decode: %v\n%s", err, out.Bytes())
		}
		if sum2 != sum || wsum != sum || len(again) != len(objs) {
			t.Fatalf("object summaries differ: read %v, wrote %v, read back %v", sum, wsum, sum2)
		}
		for i := range objs {
			if again[i] != objs[i] {
				t.Fatalf("object %d: %v read back as %v", i, objs[i], again[i])
			}
		}
		var a, b bytes.Buffer
		ev.Objects, ev2.Objects = nil, nil
		ev.WriteJSON(&a)
		ev2.WriteJSON(&b)
		if !bytes.Equal(a.Bytes(), b.Bytes()) {
			t.Fatalf("evidence changed in a round trip:\n%s\n%s", a.Bytes(), b.Bytes())
		}
	})
}
