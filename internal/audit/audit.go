package audit

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/user"

	"steward/internal/catalog"
	"steward/internal/clock"
	"steward/internal/state"
)

// Record is one audit record.
type Record = catalog.AuditRecord

// Results of an audited action.
const (
	ResultOK      = "ok"
	ResultFailed  = "failed"
	ResultStarted = "started"
	ResultDenied  = "denied"
)

// Entry is what a caller records; the log adds seq, time and hashes.
type Entry struct {
	Actor   string
	Action  string
	Target  string
	Result  string
	Details map[string]string
}

// Log appends records to the catalog and mirrors them to a JSON-lines file.
type Log struct {
	store  catalog.AuditStore
	mirror string
	clock  *clock.Zoned
	// part: the mirror holds only the records this process appended
	// (MirrorsPart).
	part bool
}

// MirrorPath is the JSON-lines mirror in a state dir.
func MirrorPath(stateDir string) string { return state.Dir(stateDir).AuditMirror() }

// New returns a log over store, mirrored to mirrorPath, timed by c.
func New(store catalog.AuditStore, mirrorPath string, c *clock.Zoned) *Log {
	return &Log{store: store, mirror: mirrorPath, clock: c}
}

// MirrorsPart says that the catalog is shared by several daemons (each
// with its own state dir), so the mirror holds only the records appended
// through this state dir: Verify then checks that every mirrored record
// is in the catalog, at its seq and with its hash, instead of that the
// two hold the same records.
func (l *Log) MirrorsPart() { l.part = true }

// OSActor is the identity of whoever runs Steward without logging in to
// an operator account: the OS user.
func OSActor() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return "os:" + u.Username
	}
	return fmt.Sprintf("os:uid-%d", os.Getuid())
}

type actorKey struct{}

// WithActor returns ctx carrying actor (e.g. "user:alice" for a
// logged-in operator): records appended with ctx, or a context derived
// from it, that name no actor of their own name this one instead of the
// OS user.
func WithActor(ctx context.Context, actor string) context.Context {
	return context.WithValue(ctx, actorKey{}, actor)
}

// ActorFrom returns the actor WithActor put in ctx, or "".
func ActorFrom(ctx context.Context) string {
	a, _ := ctx.Value(actorKey{}).(string)
	return a
}

// HashName turns a file or object name (contract content) into the form
// that may appear in audit details.
func HashName(name string) string {
	sum := sha256.Sum256([]byte(name))
	return "sha256:" + hex.EncodeToString(sum[:16])
}

// Append records e after the newest record, in one transaction, and mirrors
// it. It returns the stored record.
func (l *Log) Append(ctx context.Context, e Entry) (Record, error) {
	if e.Actor == "" {
		e.Actor = ActorFrom(ctx)
	}
	if e.Actor == "" {
		e.Actor = OSActor()
	}
	if len(e.Details) == 0 {
		e.Details = nil // stored and mirrored alike, so the hash reads back the same
	}
	build := func(last *Record) (Record, error) {
		r := Record{
			Seq:     1,
			Time:    l.clock.Format(l.clock.Now()),
			Actor:   e.Actor,
			Action:  e.Action,
			Target:  e.Target,
			Result:  e.Result,
			Details: e.Details,
		}
		if last != nil {
			r.Seq = last.Seq + 1
			r.PrevHash = last.Hash
		}
		r.Hash = Hash(r)
		return r, nil
	}
	// The mirror line is written inside the store's transaction, before
	// its commit: when the commit then fails (a full disk refuses the
	// catalog's write-ahead log a page that the mirror's last page still
	// had), the line is taken back, or the next record would follow a
	// record the catalog never held and the two would disagree for good.
	var written *mirrorWrite
	rec, err := l.store.AppendAudit(ctx, build, func(r Record) error {
		w, err := l.writeMirror(r)
		written = w
		return err
	})
	if err != nil && written != nil {
		written.undo()
	}
	return rec, err
}

// mirrorWrite is one line appended to the mirror: the file's size before
// and after it.
type mirrorWrite struct {
	path        string
	before, end int64
}

// undo cuts the line off again, if nothing was appended after it.
func (w *mirrorWrite) undo() {
	if st, err := os.Stat(w.path); err == nil && st.Size() == w.end {
		_ = os.Truncate(w.path, w.before)
	}
}

// writeMirror appends r to the mirror and syncs it. A write that fails
// part-way is cut off again, so that no partial line is left.
func (l *Log) writeMirror(r Record) (*mirrorWrite, error) {
	line, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(l.mirror, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit mirror: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("audit mirror: %w", err)
	}
	w := &mirrorWrite{path: l.mirror, before: st.Size(), end: st.Size() + int64(len(line)) + 1}
	if _, err := f.Write(append(line, '\n')); err != nil {
		_ = f.Truncate(w.before)
		f.Close()
		return nil, fmt.Errorf("audit mirror: %w", err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Truncate(w.before)
		f.Close()
		return nil, fmt.Errorf("audit mirror: %w", err)
	}
	return w, f.Close()
}

// Head is the newest record's seq and hash: the value printed on reports
// and certificates, which anchors the log outside Steward.
func (l *Log) Head(ctx context.Context) (seq int64, hash string, err error) {
	r, err := l.store.LastAudit(ctx)
	if err != nil {
		return 0, "", err
	}
	return r.Seq, r.Hash, nil
}

// hashed is the canonical form a record's hash covers: every field but
// the hash, in a fixed order (encoding/json sorts the details' keys).
type hashed struct {
	Seq      int64             `json:"seq"`
	Time     string            `json:"time"`
	Actor    string            `json:"actor"`
	Action   string            `json:"action"`
	Target   string            `json:"target"`
	Result   string            `json:"result"`
	Details  map[string]string `json:"details"`
	PrevHash string            `json:"prev_hash"`
}

// Hash computes a record's hash (hex SHA-256 of its canonical JSON).
func Hash(r Record) string {
	b, err := json.Marshal(hashed{r.Seq, r.Time, r.Actor, r.Action, r.Target, r.Result, r.Details, r.PrevHash})
	if err != nil {
		panic(err) // strings and a string map always marshal
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Scan calls fn for every catalog record in order.
func (l *Log) Scan(ctx context.Context, fn func(Record) error) error {
	return l.store.ScanAudit(ctx, fn)
}

// readMirror reads the JSON-lines mirror. A line that is not a record is
// reported as a problem at its position.
func readMirror(path string, fn func(line int, r Record, err error) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return scanMirror(f, fn)
}

// scanMirror reads mirror lines from r (readMirror's work, apart from the
// file, so that the fuzz target runs it without a disk).
func scanMirror(r io.Reader, fn func(line int, r Record, err error) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
	n := 0
	for sc.Scan() {
		n++
		var r Record
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		err := dec.Decode(&r)
		if err := fn(n, r, err); err != nil {
			return err
		}
	}
	return sc.Err()
}
