package certs

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"

	"github.com/digitorus/pdf"
	"github.com/digitorus/pdfsign/sign"

	"steward/internal/clock"
	"steward/internal/config"
	"steward/internal/keys"
)

// Signer signs reports with the operator's X.509 certificate and key.
type Signer struct {
	Certificate *x509.Certificate
	Key         crypto.Signer
	// Name, Reason and Location are written into the signature dictionary.
	Name     string
	Reason   string
	Location string
	// TSAURL, when set, is an RFC 3161 time-stamping service whose token
	// is added to the signature.
	TSAURL string
	// Clock gives the signing time recorded without a TSA; clock.System
	// when nil.
	Clock clock.Clock
}

// NewSigner loads the signing certificate and key named in the config.
func NewSigner(cfg config.Signing, reason string, c clock.Clock) (*Signer, error) {
	if cfg.Certificate == "" || cfg.Key == "" {
		return nil, ErrNoSigningKey
	}
	cert, err := keys.LoadCertificate(cfg.Certificate)
	if err != nil {
		return nil, fmt.Errorf("signing.certificate: %w (%w)", err, ErrNoSigningKey)
	}
	k, err := keys.LoadSigner(cfg.Key)
	if err != nil {
		return nil, fmt.Errorf("signing.key: %w (%w)", err, ErrNoSigningKey)
	}
	key, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("signing.key: %s is not a signing key", cfg.Key)
	}
	name := cfg.Signer
	if name == "" {
		name = cert.Subject.CommonName
	}
	return &Signer{Certificate: cert, Key: key, Name: name, Reason: reason, Location: cfg.Location, TSAURL: cfg.TSAURL, Clock: c}, nil
}

// bigPDF is the size above which Sign trades CPU for memory.
const bigPDF = 16 << 20

var bigSign sync.Mutex

// Sign signs the PDF read from in (size bytes) and writes the signed PDF,
// an incremental update covering the whole file, to w. The signature is a
// detached CMS (adbe.pkcs7.detached) with SHA-256. With a TSA URL the
// timestamp service is asked for a token; the request cannot be cancelled
// mid-flight, but Sign returns when ctx ends.
func Sign(ctx context.Context, in io.ReadSeeker, size int64, s *Signer, w io.Writer) error {
	if s == nil || s.Certificate == nil || s.Key == nil {
		return ErrNoSigningKey
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	c := s.Clock
	if c == nil {
		c = clock.System
	}
	ra, ok := in.(io.ReaderAt)
	if !ok {
		return errors.New("sign: input must support ReadAt (a file or a bytes.Reader)")
	}
	if size > bigPDF {
		// pdfsign holds the whole file in memory twice (its output buffer
		// and the signed bytes); collect more often while it does, so a
		// 50 MB certificate stays far below 256 MB (P6). One at a time,
		// as the setting is process-wide.
		bigSign.Lock()
		defer bigSign.Unlock()
		defer debug.SetGCPercent(debug.SetGCPercent(25))
	}
	rdr, err := pdf.NewReader(ra, size)
	if err != nil {
		return fmt.Errorf("sign: read PDF: %w", err)
	}
	data := sign.SignData{
		Signature: sign.SignDataSignature{
			Info: sign.SignDataSignatureInfo{
				Name:     dictSafe(s.Name, s.Certificate.Subject.CommonName),
				Location: dictSafe(s.Location, ""),
				Reason:   dictSafe(s.Reason, ""),
				Date:     c.Now(),
			},
			CertType:   sign.CertificationSignature,
			DocMDPPerm: sign.DoNotAllowAnyChangesPerms,
		},
		Signer:            s.Key,
		DigestAlgorithm:   crypto.SHA256,
		Certificate:       s.Certificate,
		CertificateChains: [][]*x509.Certificate{{s.Certificate}},
		TSA:               sign.TSA{URL: s.TSAURL},
	}
	done := make(chan error, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				done <- fmt.Errorf("sign: %v", r)
			}
		}()
		done <- sign.Sign(in, w, rdr, size, data)
	}()
	select {
	case err := <-done:
		if err != nil {
			if s.TSAURL != "" {
				return fmt.Errorf("sign (time-stamping service %s): %w; check signing.tsa_url or leave it empty", s.TSAURL, err)
			}
			return fmt.Errorf("sign: %w", err)
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// WriteSigned renders a report with render, signs it, and writes it to
// dir/name (dir is created 0750; an existing file is never replaced). It
// returns the path and the SHA-256 (hex) of the signed file.
func WriteSigned(ctx context.Context, dir, name string, render func(io.Writer) (*Rendered, error), s *Signer) (path, sha256hex string, err error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", "", fmt.Errorf("reports folder: %w", err)
	}
	path = filepath.Join(dir, name)
	if _, err := os.Stat(path); err == nil {
		return "", "", fmt.Errorf("%s: %w: a report is never overwritten; remove or rename it first", path, fs.ErrExist)
	}
	unsigned, err := os.CreateTemp(dir, ".unsigned-*.pdf")
	if err != nil {
		return "", "", err
	}
	defer os.Remove(unsigned.Name())
	defer unsigned.Close()
	if _, err := render(unsigned); err != nil {
		return "", "", err
	}
	size, err := unsigned.Seek(0, io.SeekCurrent)
	if err != nil {
		return "", "", err
	}
	// Layout leaves tens of MB of garbage (the parsed font, the encoder);
	// signing then copies the whole file twice (pdfsign holds it in
	// memory). Hand the garbage back first so the two peaks do not add up.
	debug.FreeOSMemory()
	out, err := os.CreateTemp(dir, ".signed-*.pdf")
	if err != nil {
		return "", "", err
	}
	defer os.Remove(out.Name())
	defer out.Close()
	h := sha256.New()
	if err := Sign(ctx, unsigned, size, s, io.MultiWriter(out, h)); err != nil {
		return "", "", err
	}
	if err := out.Sync(); err != nil {
		return "", "", err
	}
	if err := out.Close(); err != nil {
		return "", "", err
	}
	if err := os.Chmod(out.Name(), 0o600); err != nil {
		return "", "", err
	}
	// Link, not rename: it fails rather than replace a file that appeared
	// meanwhile.
	if err := os.Link(out.Name(), path); err != nil {
		return "", "", fmt.Errorf("write report: %w", err)
	}
	return path, hex.EncodeToString(h.Sum(nil)), nil
}

// dictSafe returns s if pdfsign can write it into the signature
// dictionary, else fallback if that can be written, else "". pdfsign
// writes non-ASCII text as raw UTF-16 without escaping, so a character
// whose UTF-16 code units hold the bytes of '\\', '(', ')' or CR (山 is
// U+5C71) would corrupt the dictionary.
func dictSafe(s, fallback string) string {
	for _, c := range []string{s, fallback} {
		if utf16Safe(c) {
			return c
		}
	}
	return ""
}

func utf16Safe(s string) bool {
	ascii := true
	for _, c := range s {
		if c > 0x7e {
			ascii = false
		}
	}
	if ascii {
		return true
	}
	for _, u := range utf16Encode(s) {
		for _, b := range []byte{byte(u >> 8), byte(u)} {
			switch b {
			case '\\', '(', ')', '\r':
				return false
			}
		}
	}
	return true
}
