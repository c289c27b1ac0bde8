package certs

import "errors"

// ErrFontMissing is returned when the report font file cannot be read.
var ErrFontMissing = errors.New("report font not found: install the Debian package fonts-ipaexfont-gothic (scripts/setup.sh does) or set signing.font to an IPAex Gothic .ttf file")

// ErrInvalidEvidence is returned when an evidence bundle or report input
// lacks required fields or holds values outside the schema.
var ErrInvalidEvidence = errors.New("invalid evidence")

// ErrVerificationFailed is returned by Verify (wrapped, together with a
// VerifyResult listing the failed checks) when any check fails. The CLI maps
// it to exit status 3.
var ErrVerificationFailed = errors.New("verification failed")

// ErrNotSigned is returned by Verify for a PDF that carries no signature.
var ErrNotSigned = errors.New("the PDF carries no signature")

// ErrNoSigningKey is returned when the signing certificate or key is not
// configured or cannot be read.
var ErrNoSigningKey = errors.New("no signing certificate or key: run `steward init` or set signing.certificate and signing.key")
