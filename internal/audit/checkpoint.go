package audit

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"steward/internal/keys"
)

// CheckpointSchema identifies a signed checkpoint file.
const CheckpointSchema = "steward.audit-checkpoint/v1"

// A Checkpoint is a signed statement that the log's head was (Seq, Hash)
// at Time. Checkpoints are kept outside the catalog (state.Dir's
// AuditCheckpoints), so that a rewrite of the whole chain, or a removed
// tail, in the catalog and the mirror alike still disagrees with them; only
// the holder of the signing key can make one.
type Checkpoint struct {
	Schema string `json:"schema"`
	Seq    int64  `json:"seq"`
	Hash   string `json:"hash"`
	Time   string `json:"time"`
	// Signer is the SHA-256 fingerprint of the certificate whose key signed.
	Signer string `json:"signer_sha256"`
	// Signature (base64) is over the JSON of every other field, in this
	// order: ASN.1 ECDSA or RSA PKCS #1 v1.5 over its SHA-256, or Ed25519.
	Signature string `json:"signature"`
}

// signed is the exact bytes a checkpoint's signature covers.
func (c Checkpoint) signed() []byte {
	b, err := json.Marshal(struct {
		Schema string `json:"schema"`
		Seq    int64  `json:"seq"`
		Hash   string `json:"hash"`
		Time   string `json:"time"`
		Signer string `json:"signer_sha256"`
	}{c.Schema, c.Seq, c.Hash, c.Time, c.Signer})
	if err != nil {
		panic(err) // strings and an integer always marshal
	}
	return b
}

// WriteCheckpoint signs (seq, hash, at) with key, whose certificate is
// cert, and writes it to dir (made 0700) as <seq>-<hash prefix>.json
// (0600). A checkpoint of the same head already there is left as it is.
// It returns the file's path.
func WriteCheckpoint(dir string, seq int64, hash, at string, cert *x509.Certificate, key crypto.Signer) (string, error) {
	if seq < 1 || len(hash) < 16 {
		return "", fmt.Errorf("audit checkpoint: no head to sign (seq %d)", seq)
	}
	c := Checkpoint{Schema: CheckpointSchema, Seq: seq, Hash: hash, Time: at, Signer: keys.Fingerprint(cert)}
	sig, err := sign(key, c.signed())
	if err != nil {
		return "", fmt.Errorf("audit checkpoint: sign: %w", err)
	}
	c.Signature = base64.StdEncoding.EncodeToString(sig)
	if err := verifySignature(cert, c); err != nil {
		return "", fmt.Errorf("audit checkpoint: the signing key does not match the signing certificate: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("audit checkpoint: %w", err)
	}
	path := filepath.Join(dir, fmt.Sprintf("%012d-%s.json", seq, hash[:16]))
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return "", err
	}
	err = keys.WriteFileExclusive(path, append(data, '\n'), 0o600)
	if errors.Is(err, keys.ErrExists) {
		return path, nil
	}
	if err != nil {
		return "", fmt.Errorf("audit checkpoint: %w", err)
	}
	return path, nil
}

// ReadCheckpoints reads every checkpoint in dir (none when dir does not
// exist) and checks its signature against cert. It returns the anchors of
// the checkpoints that verify, and a problem for each that does not: one
// that cannot be read, is signed by another certificate, or whose
// signature does not hold, was made or altered by someone without the key.
func ReadCheckpoints(dir string, cert *x509.Certificate) ([]Anchor, []Problem, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("audit checkpoints: %w", err)
	}
	var anchors []Anchor
	var probs []Problem
	bad := func(name string, seq int64, format string, a ...any) {
		probs = append(probs, Problem{Where: KindCheckpoint, Seq: seq,
			Reason: fmt.Sprintf("checkpoint %s: ", filepath.Join(dir, name)) + fmt.Sprintf(format, a...)})
	}
	want := keys.Fingerprint(cert)
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".json") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, nil, fmt.Errorf("audit checkpoints: %w", err)
		}
		var c Checkpoint
		dec := json.NewDecoder(strings.NewReader(string(data)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&c); err != nil || c.Schema != CheckpointSchema {
			bad(name, 0, "not a %s file (%v)", CheckpointSchema, err)
			continue
		}
		switch {
		case c.Signer != want:
			bad(name, c.Seq, "signed by certificate %s, not by the signing certificate %s: it cannot be checked, so the log is not known to hold seq %d", c.Signer, want, c.Seq)
		case verifySignature(cert, c) != nil:
			bad(name, c.Seq, "the signature does not verify: the checkpoint was altered or forged")
		default:
			anchors = append(anchors, Anchor{Seq: c.Seq, Hash: c.Hash, Kind: KindCheckpoint, Source: filepath.Join(dir, name), Time: c.Time})
		}
	}
	sort.Slice(probs, func(i, j int) bool { return probs[i].Seq < probs[j].Seq })
	return anchors, probs, nil
}

func sign(key crypto.Signer, msg []byte) ([]byte, error) {
	if _, ok := key.Public().(ed25519.PublicKey); ok {
		return key.Sign(rand.Reader, msg, crypto.Hash(0))
	}
	sum := sha256.Sum256(msg)
	return key.Sign(rand.Reader, sum[:], crypto.SHA256)
}

func verifySignature(cert *x509.Certificate, c Checkpoint) error {
	sig, err := base64.StdEncoding.DecodeString(c.Signature)
	if err != nil {
		return err
	}
	var algo x509.SignatureAlgorithm
	switch cert.PublicKey.(type) {
	case *ecdsa.PublicKey:
		algo = x509.ECDSAWithSHA256
	case *rsa.PublicKey:
		algo = x509.SHA256WithRSA
	case ed25519.PublicKey:
		algo = x509.PureEd25519
	default:
		return fmt.Errorf("unsupported key type %T", cert.PublicKey)
	}
	return cert.CheckSignature(algo, c.signed(), sig)
}
