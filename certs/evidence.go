package certs

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"os"
	"slices"
	"strconv"
	"time"

	"steward/internal/clock"
)

// EvidenceSchema is the schema identifier written in every evidence bundle.
const EvidenceSchema = "steward.evidence/v1"

// Statuses of an erasure, as printed on the certificate.
const (
	StatusErased               = "Erased"
	StatusErasedWithExceptions = "Erased with exceptions"
)

// TargetKind says what kind of store a target is.
type TargetKind string

// The target kinds.
const (
	KindS3Bucket        TargetKind = "s3_bucket"
	KindRepositoryLocal TargetKind = "repository_local"
	KindRepositoryS3    TargetKind = "repository_s3"
	KindPostgres        TargetKind = "postgres_database"
	KindPath            TargetKind = "path"
	KindCache           TargetKind = "cache"
	KindScratch         TargetKind = "scratch"
	KindCatalog         TargetKind = "catalog"
	KindAccount         TargetKind = "account"
	KindSealedSecret    TargetKind = "sealed_secret"
	KindRepositoryKey   TargetKind = "repository_key"
)

var targetKinds = []TargetKind{KindS3Bucket, KindRepositoryLocal, KindRepositoryS3, KindPostgres,
	KindPath, KindCache, KindScratch, KindCatalog, KindAccount, KindSealedSecret, KindRepositoryKey}

// Method is how a target was sanitised.
type Method string

// The methods.
const (
	MethodCryptoErase          Method = "crypto_erase"
	MethodLogicalDelete        Method = "logical_delete"
	MethodCredentialRevocation Method = "credential_revocation"
)

// NISTCategory is the NIST SP 800-88 sanitisation category of a method.
type NISTCategory string

// The NIST SP 800-88 categories Steward's methods fall into.
const (
	NISTClear NISTCategory = "Clear"
	NISTPurge NISTCategory = "Purge"
)

// Result is the outcome of a verification.
type Result string

// The results.
const (
	ResultPassed Result = "passed"
	ResultFailed Result = "failed"
)

// Evidence is the machine-readable record of one contract-end erasure: the
// bundle embedded in the deletion certificate. docs/evidence.md documents
// each field. Field order is the order written; Objects comes last.
type Evidence struct {
	Schema        string     `json:"schema"`
	CertificateID string     `json:"certificate_id"`
	Issued        time.Time  `json:"issued"`
	Issuer        Issuer     `json:"issuer"`
	Contract      Contract   `json:"contract"`
	Clock         ClockState `json:"clock"`
	AuditHead     AuditHead  `json:"audit_head"`
	Operator      string     `json:"operator"`
	Approver      string     `json:"approver"`
	PlanID        string     `json:"plan_id"`
	Targets       []Target   `json:"targets"`
	Accounts      []Account  `json:"accounts_revoked"`
	// RecoveryKits are the recovery kits made for the contract: their
	// escrow keys were deleted with every key file, and each recipient is
	// asked to destroy their copy.
	RecoveryKits []RecoveryKit `json:"recovery_kits,omitempty"`
	Attestations []Attestation `json:"attestations"`

	// Objects yields every object (and object version) that was erased, in
	// a stable order. It may be called more than once (once per rendering)
	// and may yield millions of entries; it is written as the bundle's
	// "objects" array, after all other fields. Nil means no objects.
	Objects iter.Seq2[Object, error] `json:"-"`
}

// Issuer is who issues the certificate.
type Issuer struct {
	Organisation string `json:"organisation"`
	Signer       string `json:"signer"`
}

// Contract identifies the contract whose data was erased.
type Contract struct {
	ID       string `json:"id"`
	Customer string `json:"customer"`
	Service  string `json:"service"`
	EndDate  string `json:"end_date,omitempty"`
}

// ClockState is the time zone and the clock-sync state when the erasure ran
// (req 15).
type ClockState struct {
	Zone string           `json:"zone"`
	Sync clock.SyncStatus `json:"sync"`
}

// AuditHead is the audit log's head after the erasure: its last sequence
// number and hash.
type AuditHead struct {
	Seq  uint64 `json:"seq"`
	Hash string `json:"hash"`
}

// Counts are a target's contents before deletion. Zero means none (or not
// applicable to the kind).
type Counts struct {
	Objects           int64 `json:"objects"`
	Versions          int64 `json:"versions"`
	DeleteMarkers     int64 `json:"delete_markers"`
	UnfinishedUploads int64 `json:"unfinished_uploads"`
	Bytes             int64 `json:"bytes"`
	Tables            int64 `json:"tables"`
	Files             int64 `json:"files"`
}

// Verification is the independent check that a target is gone.
type Verification struct {
	Method string `json:"method"`
	Result Result `json:"result"`
	Detail string `json:"detail,omitempty"`
}

// Target is one store that held contract data, and how it was erased.
type Target struct {
	// ID is unique within the bundle; objects refer to it.
	ID           string       `json:"id"`
	Kind         TargetKind   `json:"kind"`
	Name         string       `json:"name"`
	Location     string       `json:"location"`
	Region       string       `json:"region,omitempty"`
	Before       Counts       `json:"before"`
	Method       Method       `json:"method"`
	NIST         NISTCategory `json:"nist_category"`
	Started      time.Time    `json:"started"`
	Finished     time.Time    `json:"finished"`
	Verification Verification `json:"verification"`
	// Exception explains anything not erased or not verified; empty when
	// the target was erased and verified in full.
	Exception string `json:"exception,omitempty"`
}

// RecoveryKit is a recovery kit (steward recovery kit): an age-encrypted
// file holding each repository's escrow key password, kept off the host.
type RecoveryKit struct {
	Created string `json:"created"`
	SHA256  string `json:"sha256"`
	// Location is where the kit was said to be kept (recovery.kit_location).
	Location string `json:"location,omitempty"`
	// Recipients are the age recipients (public keys) the kit was
	// encrypted to: each holder of one of their identities can open it.
	Recipients []string `json:"recipients"`
	// EscrowKeys are the restic key ids the kit opened, by repository.
	EscrowKeys map[string]string `json:"escrow_keys"`
}

// Account is a special account or credential that was revoked (req 27).
type Account struct {
	Kind         string       `json:"kind"`
	Name         string       `json:"name"`
	Location     string       `json:"location,omitempty"`
	Revoked      time.Time    `json:"revoked"`
	Verification Verification `json:"verification"`
	Exception    string       `json:"exception,omitempty"`
}

// Attestation is a provider's device-disposal attestation or third-party
// audit report (req 24, 25).
type Attestation struct {
	Title     string `json:"title"`
	Issuer    string `json:"issuer"`
	Date      string `json:"date,omitempty"`
	Reference string `json:"reference,omitempty"`
}

// Object is one erased object version. Keys are never recorded, only their
// SHA-256, so the bundle holds no contract data.
type Object struct {
	Target    string `json:"target"`
	KeySHA256 string `json:"key_sha256"`
	VersionID string `json:"version_id,omitempty"`
	Size      int64  `json:"size"`
}

// ObjectsSummary is written after the objects array: the count and total
// size of the objects listed.
type ObjectsSummary struct {
	Count int64 `json:"count"`
	Bytes int64 `json:"bytes"`
}

// ObjectSlice adapts a slice to Evidence.Objects.
func ObjectSlice(objs []Object) iter.Seq2[Object, error] {
	return func(yield func(Object, error) bool) {
		for _, o := range objs {
			if !yield(o, nil) {
				return
			}
		}
	}
}

// Exceptions lists, in order, every reason the erasure is not complete: a
// target or account with an exception or a failed verification. Empty
// means everything was erased and verified.
func (ev *Evidence) Exceptions() []string {
	var out []string
	if len(ev.Targets) == 0 {
		out = append(out, "no targets recorded")
	}
	for _, t := range ev.Targets {
		if t.Exception != "" {
			out = append(out, fmt.Sprintf("%s (%s): %s", t.Name, t.Kind, t.Exception))
		}
		if t.Verification.Result != ResultPassed {
			out = append(out, fmt.Sprintf("%s (%s): verification %s %s", t.Name, t.Kind, resultWord(t.Verification.Result), t.Verification.Detail))
		}
	}
	for _, a := range ev.Accounts {
		if a.Exception != "" {
			out = append(out, fmt.Sprintf("account %s (%s): %s", a.Name, a.Kind, a.Exception))
		}
		if a.Verification.Result != ResultPassed {
			out = append(out, fmt.Sprintf("account %s (%s): verification %s %s", a.Name, a.Kind, resultWord(a.Verification.Result), a.Verification.Detail))
		}
	}
	return out
}

func resultWord(r Result) string {
	if r == "" {
		return "missing"
	}
	return string(r)
}

// Status is "Erased" only when every target and account was erased and
// verified without exception, and "Erased with exceptions" otherwise.
func (ev *Evidence) Status() string {
	if len(ev.Exceptions()) == 0 {
		return StatusErased
	}
	return StatusErasedWithExceptions
}

// Validate checks that the bundle has every required field and only known
// kinds, methods and categories. Each problem is listed.
func (ev *Evidence) Validate() error {
	var probs []string
	add := func(format string, a ...any) { probs = append(probs, fmt.Sprintf(format, a...)) }
	if ev.Schema != EvidenceSchema {
		add("schema %q: want %q", ev.Schema, EvidenceSchema)
	}
	if ev.CertificateID == "" {
		add("certificate_id is empty")
	}
	if ev.Issued.IsZero() {
		add("issued is not set")
	}
	if ev.Contract.ID == "" {
		add("contract.id is empty")
	}
	if ev.Issuer.Organisation == "" {
		add("issuer.organisation is empty: set signing.organisation")
	}
	ids := map[string]bool{}
	for i, t := range ev.Targets {
		if t.ID == "" || ids[t.ID] {
			add("targets[%d].id %q is empty or repeated", i, t.ID)
		}
		ids[t.ID] = true
		if !slices.Contains(targetKinds, t.Kind) {
			add("targets[%d].kind %q is unknown", i, t.Kind)
		}
		switch t.Method {
		case MethodCryptoErase, MethodLogicalDelete, MethodCredentialRevocation:
		default:
			add("targets[%d].method %q is unknown", i, t.Method)
		}
		if t.NIST != NISTClear && t.NIST != NISTPurge {
			add("targets[%d].nist_category %q: want Clear or Purge", i, t.NIST)
		}
		if t.Verification.Result != ResultPassed && t.Verification.Result != ResultFailed {
			add("targets[%d].verification.result %q: want passed or failed", i, t.Verification.Result)
		}
	}
	if len(probs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s", ErrInvalidEvidence, joinProblems(probs))
}

func joinProblems(p []string) string {
	out := ""
	for i, s := range p {
		if i > 0 {
			out += "; "
		}
		out += s
	}
	return out
}

// WriteJSON writes the bundle as JSON: every field of Evidence in order,
// then "objects" (one object per line, streamed from ev.Objects), then
// "objects_summary". The bytes written are the bytes hashed.
func (ev *Evidence) WriteJSON(w io.Writer) (ObjectsSummary, error) {
	sum, _, err := ev.writeJSON(w)
	return sum, err
}

func (ev *Evidence) writeJSON(w io.Writer) (ObjectsSummary, map[string]ObjectsSummary, error) {
	var sum ObjectsSummary
	per := map[string]ObjectsSummary{}
	bw := bufio.NewWriterSize(w, 256<<10)
	head, err := json.Marshal(ev)
	if err != nil {
		return sum, nil, fmt.Errorf("encode evidence: %w", err)
	}
	// head ends in '}': reopen it to append the streamed fields.
	bw.Write(head[:len(head)-1])
	bw.WriteString(",\n\"objects\":[")
	targets := map[string]bool{}
	for _, t := range ev.Targets {
		targets[t.ID] = true
	}
	if ev.Objects != nil {
		buf := make([]byte, 0, 256)
		for o, err := range ev.Objects {
			if err != nil {
				return sum, nil, fmt.Errorf("list erased objects: %w", err)
			}
			if !targets[o.Target] {
				return sum, nil, fmt.Errorf("%w: object %d names unknown target %q", ErrInvalidEvidence, sum.Count, o.Target)
			}
			buf = appendObject(buf[:0], o, sum.Count == 0)
			if _, err := bw.Write(buf); err != nil {
				return sum, nil, err
			}
			sum.Count++
			sum.Bytes += o.Size
			t := per[o.Target]
			t.Count++
			t.Bytes += o.Size
			per[o.Target] = t
		}
	}
	tail, _ := json.Marshal(sum)
	bw.WriteString("\n],\n\"objects_summary\":")
	bw.Write(tail)
	bw.WriteString("}\n")
	return sum, per, bw.Flush()
}

// appendObject writes one object as a JSON line, by hand: encoding/json
// costs too much per object for a million of them.
func appendObject(b []byte, o Object, first bool) []byte {
	if !first {
		b = append(b, ',')
	}
	b = append(b, "\n{\"target\":"...)
	b = appendJSONString(b, o.Target)
	b = append(b, ",\"key_sha256\":"...)
	b = appendJSONString(b, o.KeySHA256)
	if o.VersionID != "" {
		b = append(b, ",\"version_id\":"...)
		b = appendJSONString(b, o.VersionID)
	}
	b = append(b, ",\"size\":"...)
	b = strconv.AppendInt(b, o.Size, 10)
	return append(b, '}')
}

// appendJSONString appends s as a JSON string. Printable ASCII (hex
// hashes, Steward's target ids, S3 version ids) takes the fast path:
// strconv quotes it as JSON would. Anything else goes through
// encoding/json, since strconv's escapes (\a, \x7f, \U0001f600) are not
// JSON.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			q, _ := json.Marshal(s) // a string always marshals
			return append(b, q...)
		}
	}
	return strconv.AppendQuote(b, s)
}

// DecodeEvidence reads a bundle written by WriteJSON (or any JSON object of
// the same schema, in any field order). Each object is passed to each (when
// not nil) and not kept; the summary counts what was read.
func DecodeEvidence(r io.Reader, each func(Object) error) (*Evidence, ObjectsSummary, error) {
	var sum ObjectsSummary
	dec := json.NewDecoder(bufio.NewReaderSize(r, 256<<10))
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return nil, sum, fmt.Errorf("%w: not a JSON object", ErrInvalidEvidence)
	}
	fields := map[string]json.RawMessage{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, sum, fmt.Errorf("%w: %v", ErrInvalidEvidence, err)
		}
		key, _ := tok.(string)
		if key != "objects" {
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				return nil, sum, fmt.Errorf("%w: field %q: %v", ErrInvalidEvidence, key, err)
			}
			fields[key] = raw
			continue
		}
		if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
			return nil, sum, fmt.Errorf("%w: objects is not an array", ErrInvalidEvidence)
		}
		for dec.More() {
			var o Object
			if err := dec.Decode(&o); err != nil {
				return nil, sum, fmt.Errorf("%w: objects[%d]: %v", ErrInvalidEvidence, sum.Count, err)
			}
			sum.Count++
			sum.Bytes += o.Size
			if each != nil {
				if err := each(o); err != nil {
					return nil, sum, err
				}
			}
		}
		if _, err := dec.Token(); err != nil {
			return nil, sum, fmt.Errorf("%w: objects: %v", ErrInvalidEvidence, err)
		}
	}
	if _, err := dec.Token(); err != nil {
		return nil, sum, fmt.Errorf("%w: %v", ErrInvalidEvidence, err)
	}
	if raw, ok := fields["objects_summary"]; ok {
		var claimed ObjectsSummary
		if err := json.Unmarshal(raw, &claimed); err != nil || claimed != sum {
			return nil, sum, fmt.Errorf("%w: objects_summary %s does not match the %d objects listed", ErrInvalidEvidence, raw, sum.Count)
		}
		delete(fields, "objects_summary")
	}
	head, _ := json.Marshal(fields)
	ev := new(Evidence)
	dec2 := json.NewDecoder(bytes.NewReader(head))
	dec2.DisallowUnknownFields()
	if err := dec2.Decode(ev); err != nil {
		return nil, sum, fmt.Errorf("%w: %v", ErrInvalidEvidence, err)
	}
	return ev, sum, nil
}

// OpenEvidence reads the bundle in the file at path. Its Objects re-read the
// file on each call, so a bundle of millions of objects is never held in
// memory.
func OpenEvidence(path string) (*Evidence, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open evidence: %w", err)
	}
	defer f.Close()
	ev, _, err := DecodeEvidence(f, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	ev.Objects = func(yield func(Object, error) bool) {
		f, err := os.Open(path)
		if err != nil {
			yield(Object{}, err)
			return
		}
		defer f.Close()
		stop := fmt.Errorf("stop")
		_, _, err = DecodeEvidence(f, func(o Object) error {
			if !yield(o, nil) {
				return stop
			}
			return nil
		})
		if err != nil && err != stop {
			yield(Object{}, err)
		}
	}
	return ev, nil
}
