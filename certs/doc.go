// Package certs renders Steward's signed PDF reports and verifies them.
//
// These documents are rendered, each A4 with Japanese and English side by
// side (Japanese first) in the IPAex Gothic font:
//
//   - the deletion certificate (データ消去証明書) from an erasure's [Evidence]
//     bundle (req 23, 26, 27), with the provider's attestations (req 24, 25);
//   - the restore drill report (復旧訓練報告書) from a [DrillReport] (req 22);
//   - the capacity and performance report from a [CapacityReport] (req 17);
//   - the hand-over receipt from a [HandoverReceipt] (req 4);
//   - the recovery kit sheet from a [RecoverySheet]: the escrow key of each
//     repository, the kit's SHA-256, its recipients and where it is kept,
//     never a password.
//
// Every report carries its machine-readable data (JSON, zstd-compressed) as
// an embedded file; the SHA-256 of the uncompressed JSON is printed on the
// report and recorded in the PDF's Keywords, so that [Verify] can recompute
// it. [Sign] signs a rendered report with the operator's X.509 key
// (PAdES-style detached CMS over the whole file, optionally with an RFC 3161
// timestamp); [Verify] checks the signature, the signer, that the signature
// covers the whole file, and the embedded data's hash.
//
// The evidence bundle's schema is documented in docs/evidence.md. Its object
// list can hold millions of entries: it is streamed, never held in memory.
package certs
