package objstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
)

// KeyHash is the hex SHA-256 of an object key. Keys are contract data:
// errors, logs and evidence name an object by this hash, never by its key.
func KeyHash(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// keyRef names a key and version in a message without the key.
func keyRef(key, versionID string) string {
	if versionID == "" {
		return "key sha256:" + KeyHash(key)
	}
	return fmt.Sprintf("key sha256:%s version %q", KeyHash(key), versionID)
}

// Sizes of the deletion machinery. Memory is bounded by them, not by the
// number of versions: at most deleteWorkers batches are in flight and one
// more is being filled.
const (
	// deleteBatch is the most keys one DeleteObjects request may carry.
	deleteBatch = 1000
	// deleteWorkers is how many DeleteObjects requests run at once.
	deleteWorkers = 4
	// maxFailed is the most DeleteErrors DeleteVersions keeps, and
	// maxExceptions the most Exceptions a Removal keeps.
	maxFailed     = 1000
	maxExceptions = 1000
	// maxPasses bounds the listing passes of Purge: a pass that deletes
	// nothing ends it; deleting something in every pass means something
	// keeps writing into the bucket.
	maxPasses = 5
)

// The steps of Purge, as its errors name them.
const (
	stepLookup  = "look for the bucket"
	stepUploads = "abort unfinished uploads"
	stepList    = "list object versions"
	stepDelete  = "delete object versions"
	stepLock    = "read the object lock of a version that was not deleted"
	stepRemove  = "remove the bucket"
)

// DeleteOptions change how versions are deleted.
type DeleteOptions struct {
	// GovernanceBypass deletes versions under governance-mode object lock
	// retention (x-amz-bypass-governance-retention), for credentials
	// allowed to.
	GovernanceBypass bool
}

// PurgeOptions change what Purge deletes and how.
type PurgeOptions struct {
	// GovernanceBypass deletes versions under governance retention (for
	// credentials allowed s3:BypassGovernanceRetention). Without it they
	// stay, as exceptions. Compliance retention and legal holds yield to
	// nothing.
	GovernanceBypass bool
	// RemoveBucket removes the bucket once nothing is left in it. The
	// client must target the whole bucket (prefix "").
	RemoveBucket bool
	// Progress, when set, is called with the counts so far after each
	// DeleteObjects request and each aborted upload, one call at a time
	// (its Exceptions is nil; ExceptionCount is set).
	Progress func(Removal)
	// Deleted, when set, is called with every version and delete marker
	// once the server has confirmed its deletion, one call at a time (the
	// evidence's object list); an error from it stops the purge.
	Deleted func(Version) error
}

// Why an Exception's version stays (Exception.Reason).
const (
	ReasonCompliance       = "compliance-retention"
	ReasonGovernance       = "governance-retention" // deleted only with GovernanceBypass
	ReasonLegalHold        = "legal-hold"
	ReasonBucketCompliance = "bucket-default-compliance-retention"
	ReasonBucketGovernance = "bucket-default-governance-retention"
)

// Exception is one version the server would not delete because of object
// lock. It names the object by the SHA-256 of its key.
type Exception struct {
	KeySHA256 string `json:"key_sha256"`
	VersionID string `json:"version_id"`
	Size      int64  `json:"size"`
	// Reason is one of the Reason constants.
	Reason string `json:"reason"`
	// RetainUntil is when the retention ends (zero for a legal hold or a
	// bucket default, whose end the server does not report per object).
	RetainUntil time.Time `json:"retain_until,omitzero"`
}

func (e Exception) String() string {
	s := fmt.Sprintf("key sha256:%s version %q: %s", e.KeySHA256, e.VersionID, e.Reason)
	if !e.RetainUntil.IsZero() {
		s += " until " + e.RetainUntil.Format(time.RFC3339)
	}
	return s
}

// Removal is what Purge (or EmptyBucket, RemoveBucket) deleted, and what
// it could not: the evidence of a logical deletion.
type Removal struct {
	Versions          int `json:"versions"`
	DeleteMarkers     int `json:"delete_markers"`
	UnfinishedUploads int `json:"unfinished_uploads"`
	// Bytes is the size of the versions deleted.
	Bytes         int64 `json:"bytes"`
	BucketRemoved bool  `json:"bucket_removed"`
	// AlreadyAbsent says the bucket did not exist: nothing was there to
	// delete.
	AlreadyAbsent bool `json:"already_absent,omitempty"`
	// ExceptionCount is how many versions stay under object lock after
	// the last listing; Exceptions holds the first 1,000 of them.
	ExceptionCount int         `json:"exception_count,omitempty"`
	Exceptions     []Exception `json:"exceptions,omitempty"`
}

// Purge deletes every object version, delete marker and unfinished
// multipart upload under the client's prefix and then, with
// o.RemoveBucket, the bucket. It aborts the uploads, then streams the
// version listing into DeleteObjects requests of at most 1,000 keys, a few
// at a time, and lists again until a listing finds nothing it can delete:
// memory does not grow with the number of versions. The Removal counts
// what was deleted, for evidence; o.Progress sees the counts as they
// grow.
//
// A missing bucket is success with AlreadyAbsent set, so Purge can run
// twice, or again after a failure, and ends in the same state. A version
// the server keeps under object lock (compliance retention, a legal hold,
// governance retention without o.GovernanceBypass, a bucket default
// retention) is an Exception: Purge deletes everything else, keeps the
// bucket and returns ErrRetained with the Removal listing them. Any other
// refusal stops it with ErrDeleteFailed; an unreachable server or refused
// credentials stop it with ErrUnreachable or ErrAccessDenied. Errors name
// the step ("delete object versions", …) and objects only by KeyHash.
func (c *Client) Purge(ctx context.Context, o PurgeOptions) (Removal, error) {
	if o.RemoveBucket && c.t.Prefix != "" {
		return Removal{}, fmt.Errorf("%s: refusing to remove the bucket through a client for prefix %q: use WithBucket(bucket, \"\")", c.t, c.t.Prefix)
	}
	p := &purge{c: c, o: o}
	exists, err := c.Exists(ctx)
	if err != nil {
		return p.rm, err // Exists names the step
	}
	if !exists {
		p.rm.AlreadyAbsent = true
		return p.rm, nil
	}
	if err := p.uploads(ctx); err != nil {
		return p.rm, err
	}
	if err := p.versions(ctx); err != nil {
		return p.rm, err
	}
	if p.rm.ExceptionCount > 0 {
		what := "they stay"
		if o.RemoveBucket {
			what = "they and the bucket stay"
		}
		return p.rm, fmt.Errorf("%s: %w: %d under prefix %q (the first: %s); everything else is deleted; %s until the lock ends: record them as exceptions",
			c.t, ErrRetained, p.rm.ExceptionCount, c.t.Prefix, p.rm.Exceptions[0], what)
	}
	if !o.RemoveBucket {
		return p.rm, nil
	}
	if err := c.mc.RemoveBucket(ctx, c.t.Bucket); err != nil {
		switch minio.ToErrorResponse(err).Code {
		case "NoSuchBucket": // removed meanwhile
			p.rm.AlreadyAbsent = true
			return p.rm, nil
		case "BucketNotEmpty":
			return p.rm, fmt.Errorf("%s: %s: %w (%v): objects were written while it was emptied; stop the writer and run the purge again", stepRemove, c.t, ErrBucketNotEmpty, err)
		}
		return p.rm, c.fail(stepRemove, err)
	}
	p.rm.BucketRemoved = true
	return p.rm, nil
}

// purge is one Purge's state.
type purge struct {
	c  *Client
	o  PurgeOptions
	rm Removal

	// The bucket's default retention mode ("" for none), read once, when
	// a version is refused that carries no lock of its own.
	bucketMode    string
	bucketModeSet bool
}

func (p *purge) progress() {
	if p.o.Progress != nil {
		r := p.rm
		r.Exceptions = nil
		p.o.Progress(r)
	}
}

// uploads aborts the unfinished uploads.
func (p *purge) uploads(ctx context.Context) error {
	_, err := p.c.abortUploads(ctx, func() {
		p.rm.UnfinishedUploads++
		p.progress()
	})
	return err
}

// versions deletes the versions in passes until a pass finds nothing but
// exceptions. Each pass lists the exceptions again; the last pass's are
// the ones that stay.
func (p *purge) versions(ctx context.Context) error {
	for range maxPasses {
		p.rm.ExceptionCount, p.rm.Exceptions = 0, nil
		deleted, vanished, err := p.pass(ctx)
		if err != nil || deleted+vanished == 0 {
			return err
		}
	}
	return fmt.Errorf("%s: %s: versions under prefix %q still appear after %d passes: stop whatever writes into the bucket, then run the purge again", stepDelete, p.c.t, p.c.t.Prefix, maxPasses)
}

// pass lists the versions once, deleting them as they come. vanished
// counts the versions that were listed but were no longer there to delete
// (versitygw, when two requests delete versions of one key at once, moves
// an older version to the current one's place and answers InvalidArgument
// for its old place): the next pass lists them again.
func (p *purge) pass(ctx context.Context) (deleted, vanished int, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	versions := make(chan Version)
	listed := make(chan error, 1)
	go func() {
		defer close(versions)
		listed <- p.c.ListVersions(ctx, func(v Version) error {
			select {
			case versions <- v:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	delErr := p.c.deleteStream(ctx, versions, DeleteOptions{GovernanceBypass: p.o.GovernanceBypass}, func(v Version, err error) error {
		if err != nil {
			gone, err := p.refused(ctx, v, err)
			if gone {
				vanished++
			}
			return err
		}
		deleted++
		if p.o.Deleted != nil {
			if err := p.o.Deleted(v); err != nil {
				return fmt.Errorf("%s: record %s: %w", stepDelete, keyRef(v.Key, v.VersionID), err)
			}
		}
		if v.IsDeleteMarker {
			p.rm.DeleteMarkers++
		} else {
			p.rm.Versions++
			p.rm.Bytes += v.Size
		}
		p.progress()
		return nil
	})
	cancel() // ends the listing if the deletes stopped early
	listErr := <-listed
	switch {
	case delErr != nil:
		return deleted, vanished, delErr
	case listErr != nil && !errors.Is(listErr, context.Canceled):
		return deleted, vanished, listErr // ListVersions names the step
	}
	return deleted, vanished, nil
}

// refused handles one version the server did not delete: gone when it
// is no longer there; an object lock makes it an Exception; anything else
// stops the purge.
func (p *purge) refused(ctx context.Context, v Version, err error) (gone bool, _ error) {
	c := p.c
	if errors.Is(err, errVanished) {
		return true, nil
	}
	if errors.Is(err, ErrOutsidePrefix) {
		return false, fmt.Errorf("%s: %s: %w", stepDelete, keyRef(v.Key, v.VersionID), err)
	}
	code := minio.ToErrorResponse(err).Code
	switch {
	case code == "NoSuchKey" || code == "NoSuchVersion" || code == "InvalidArgument":
		return true, nil
	case code == "" || code == "NoSuchBucket" || code == "InvalidAccessKeyId" || code == "SignatureDoesNotMatch":
		// The whole request failed: server down, credentials refused.
		return false, c.fail(stepDelete, err)
	case v.IsDeleteMarker || (code != "AccessDenied" && code != "ObjectLocked"):
		// No lock holds a delete marker, and no lock answers so.
		return false, fmt.Errorf("%s: %s: %w: %s: %w", stepDelete, c.t, ErrDeleteFailed, keyRef(v.Key, v.VersionID), c.classify(err))
	}
	l, err := p.lock(ctx, v)
	switch {
	case err != nil:
		return false, err
	case l.gone:
		return true, nil
	case l.bypassRefused:
		return false, fmt.Errorf("%s: %s: %w: %s is under governance retention and the bypass was refused: give the credentials s3:BypassGovernanceRetention, or purge without the bypass and record it as an exception",
			stepDelete, c.t, ErrDeleteFailed, keyRef(v.Key, v.VersionID))
	case l.reason == "":
		return false, fmt.Errorf("%s: %s: %w: %s refused (%s) though no object lock holds it: the credentials may not delete object versions; give them s3:DeleteObjectVersion",
			stepDelete, c.t, ErrDeleteFailed, keyRef(v.Key, v.VersionID), code)
	}
	if p.rm.ExceptionCount++; len(p.rm.Exceptions) < maxExceptions {
		p.rm.Exceptions = append(p.rm.Exceptions, Exception{KeySHA256: KeyHash(v.Key), VersionID: v.VersionID, Size: v.Size, Reason: l.reason, RetainUntil: l.until})
	}
	p.progress()
	return false, nil
}

// lockState is what keeps one version that the server would not delete.
type lockState struct {
	reason string // a Reason constant, "" when no lock explains it
	until  time.Time
	// bypassRefused: governance retention holds it although the bypass
	// was asked for (the credentials may not bypass).
	bypassRefused bool
	gone          bool // the version is no longer there
}

// lock reads the version's own retention and legal hold (HEAD: versitygw's
// GetObjectRetention answers with the wrong XML root), else the bucket's
// default retention.
func (p *purge) lock(ctx context.Context, v Version) (lockState, error) {
	st, err := p.c.mc.StatObject(ctx, p.c.t.Bucket, v.Key, minio.StatObjectOptions{VersionID: v.VersionID})
	if err != nil {
		switch minio.ToErrorResponse(err).Code {
		case "NoSuchKey", "NoSuchVersion":
			return lockState{gone: true}, nil
		}
		return lockState{}, fmt.Errorf("%s (%s): %w", stepLock, keyRef(v.Key, v.VersionID), p.c.classify(err))
	}
	mode := strings.ToUpper(st.Metadata.Get("X-Amz-Object-Lock-Mode"))
	until, _ := time.Parse(time.RFC3339, st.Metadata.Get("X-Amz-Object-Lock-Retain-Until-Date"))
	switch {
	case mode == "COMPLIANCE":
		return lockState{reason: ReasonCompliance, until: until}, nil
	case strings.EqualFold(st.Metadata.Get("X-Amz-Object-Lock-Legal-Hold"), "ON"):
		return lockState{reason: ReasonLegalHold}, nil
	case mode == "GOVERNANCE" && p.o.GovernanceBypass:
		return lockState{bypassRefused: true}, nil
	case mode == "GOVERNANCE":
		return lockState{reason: ReasonGovernance, until: until}, nil
	}
	mode, err = p.bucketDefault(ctx)
	switch {
	case err != nil:
		return lockState{}, err
	case mode == "COMPLIANCE":
		return lockState{reason: ReasonBucketCompliance}, nil
	case mode == "GOVERNANCE" && p.o.GovernanceBypass:
		return lockState{bypassRefused: true}, nil
	case mode == "GOVERNANCE":
		return lockState{reason: ReasonBucketGovernance}, nil
	}
	return lockState{}, nil
}

// bucketDefault is the bucket's default retention mode, "" for none; read
// once per purge.
func (p *purge) bucketDefault(ctx context.Context) (string, error) {
	if p.bucketModeSet {
		return p.bucketMode, nil
	}
	enabled, mode, _, _, err := p.c.mc.GetObjectLockConfig(ctx, p.c.t.Bucket)
	if err != nil && minio.ToErrorResponse(err).Code == "" {
		return "", p.c.fail(stepLock, err)
	}
	// A server that answers with an error has no configuration to show.
	if err == nil && enabled == "Enabled" && mode != nil {
		p.bucketMode = strings.ToUpper(mode.String())
	}
	p.bucketModeSet = true
	return p.bucketMode, nil
}

// EmptyBucket is Purge without removing the bucket, for callers that
// treat any version left as a failure: an Exception makes it fail with
// ErrRetained.
func (c *Client) EmptyBucket(ctx context.Context, o DeleteOptions) (Removal, error) {
	return c.Purge(ctx, PurgeOptions{GovernanceBypass: o.GovernanceBypass})
}

// RemoveBucket is Purge with RemoveBucket: it empties the bucket and
// removes it. The client must target the whole bucket (prefix ""); a
// missing bucket is not an error, so RemoveBucket can run twice.
func (c *Client) RemoveBucket(ctx context.Context, o DeleteOptions) (Removal, error) {
	return c.Purge(ctx, PurgeOptions{GovernanceBypass: o.GovernanceBypass, RemoveBucket: true})
}

// AbortUploads aborts every unfinished multipart upload under the prefix
// and returns how many it aborted. It lists again until a listing finds
// none.
func (c *Client) AbortUploads(ctx context.Context) (int, error) {
	return c.abortUploads(ctx, nil)
}

// abortUploads is AbortUploads; aborted, when set, is called after each
// upload it aborts.
func (c *Client) abortUploads(ctx context.Context, aborted func()) (int, error) {
	core := minio.Core{Client: c.mc}
	total := 0
	for range maxPasses {
		n := 0
		err := c.ListUploads(ctx, func(u Upload) error {
			if err := core.AbortMultipartUpload(ctx, c.t.Bucket, u.Key, u.UploadID); err != nil {
				if minio.ToErrorResponse(err).Code == "NoSuchUpload" {
					return nil // finished or aborted meanwhile
				}
				return c.fail(fmt.Sprintf("%s (%s)", stepUploads, keyRef(u.Key, "")), err)
			}
			n++
			if aborted != nil {
				aborted()
			}
			return nil
		})
		total += n
		if err != nil || n == 0 {
			return total, err
		}
	}
	return total, fmt.Errorf("%s: %s: unfinished uploads still appear after %d passes: stop whatever writes into the bucket, then retry", stepUploads, c.t, maxPasses)
}

// DeleteError is one version that could not be deleted. Its message names
// the key by its SHA-256 only.
type DeleteError struct {
	Key       string
	VersionID string
	Err       error
}

func (e DeleteError) Error() string {
	return fmt.Sprintf("%s: %v", keyRef(e.Key, e.VersionID), e.Err)
}

func (e DeleteError) Unwrap() error { return e.Err }

// DeleteVersions deletes the versions (and delete markers) received from
// versions, in DeleteObjects requests of at most 1,000 keys, until the
// channel is closed or ctx ends. A Version needs Key (full key, under the
// prefix) and VersionID ("" deletes the current object: in a versioned
// bucket that adds a delete marker); ListVersions gives both.
//
// deleted counts what the server deleted; failed holds each key it
// refused (at most the first 1,000; err then says how many in all). A
// version the server no longer has is neither deleted nor failed. err is
// set when the context ended or failures were dropped. Memory does not
// grow with the number of versions.
func (c *Client) DeleteVersions(ctx context.Context, versions <-chan Version, o DeleteOptions) (deleted int, failed []DeleteError, err error) {
	nfailed := 0
	err = c.deleteStream(ctx, versions, o, func(v Version, e error) error {
		switch {
		case e == nil:
			deleted++
			return nil
		case errors.Is(e, errVanished):
			return nil
		}
		if !errors.Is(e, ErrOutsidePrefix) {
			e = c.deleteFailed(e)
		}
		if nfailed++; len(failed) < maxFailed {
			failed = append(failed, DeleteError{Key: v.Key, VersionID: v.VersionID, Err: e})
		}
		return nil
	})
	if err == nil && nfailed > len(failed) {
		err = fmt.Errorf("%s: %w: %d keys failed, the first %d are listed", c.t, ErrDeleteFailed, nfailed, len(failed))
	}
	return deleted, failed, err
}

// errVanished is deleteStream's outcome for a version the server no
// longer had to delete (minio-go drops NoSuchVersion and InvalidArgument
// from a DeleteObjects answer).
var errVanished = errors.New("version no longer there")

// deleteStream deletes versions in batches of deleteBatch, at most
// deleteWorkers batches at once, and calls outcome for each version with
// the server's refusal (nil: deleted; errVanished: not there), one call
// at a time. An error from outcome stops the stream and is returned; so
// is the end of ctx.
func (c *Client) deleteStream(ctx context.Context, versions <-chan Version, o DeleteOptions, outcome func(Version, error) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var mu sync.Mutex
	report := func(v Version, err error) {
		mu.Lock()
		defer mu.Unlock()
		if ctx.Err() != nil {
			return // stopped: later outcomes are the cancellation's
		}
		if err := outcome(v, err); err != nil {
			cancel(err)
		}
	}
	batches := make(chan []Version)
	var wg sync.WaitGroup
	for range deleteWorkers {
		wg.Go(func() {
			for b := range batches {
				c.deleteBatch(ctx, b, o, report)
			}
		})
	}
	batch := make([]Version, 0, deleteBatch)
	send := func() bool {
		select {
		case batches <- batch:
			batch = make([]Version, 0, deleteBatch)
			return true
		case <-ctx.Done():
			return false
		}
	}
feed:
	for {
		select {
		case <-ctx.Done():
			break feed
		case v, ok := <-versions:
			if !ok {
				if len(batch) > 0 {
					send()
				}
				break feed
			}
			if !strings.HasPrefix(v.Key, c.t.Prefix) {
				report(v, fmt.Errorf("%w %q of %s: not deleted", ErrOutsidePrefix, c.t.Prefix, c.t))
				continue
			}
			if batch = append(batch, v); len(batch) == deleteBatch && !send() {
				break feed
			}
		}
	}
	close(batches)
	wg.Wait()
	return context.Cause(ctx)
}

// deleteBatch sends one DeleteObjects request for batch (at most
// deleteBatch versions) and reports each outcome with the Version it was
// given, so that the caller knows a delete marker from a version.
func (c *Client) deleteBatch(ctx context.Context, batch []Version, o DeleteOptions, report func(Version, error)) {
	type vkey struct{ key, id string }
	pending := make(map[vkey]Version, len(batch))
	objs := make(chan minio.ObjectInfo, len(batch))
	for _, v := range batch {
		pending[vkey{v.Key, v.VersionID}] = v
		objs <- minio.ObjectInfo{Key: v.Key, VersionID: v.VersionID}
	}
	close(objs)
	// One DeleteObjects request: the channel holds at most 1,000.
	for r := range c.mc.RemoveObjectsWithResult(ctx, c.t.Bucket, objs, minio.RemoveObjectsOptions{GovernanceBypass: o.GovernanceBypass}) {
		k := vkey{r.ObjectName, r.ObjectVersionID}
		v, ok := pending[k]
		if !ok { // the server may spell the version differently ("null")
			for pk, pv := range pending {
				if pk.key == r.ObjectName {
					k, v, ok = pk, pv, true
					break
				}
			}
		}
		if ok {
			delete(pending, k)
		} else {
			v = Version{Key: r.ObjectName, VersionID: r.ObjectVersionID}
		}
		report(v, r.Err)
	}
	// Left in pending: versions the server said it does not have.
	if ctx.Err() == nil {
		for _, v := range pending {
			report(v, errVanished)
		}
	}
}

// deleteFailed explains why the server refused to delete one version
// (a DeleteError's Err: Key and VersionID say which). A refusal of one
// key in a request the server accepted is usually object lock, not the
// access keys.
func (c *Client) deleteFailed(err error) error {
	resp := minio.ToErrorResponse(err)
	switch resp.Code {
	case "AccessDenied", "ObjectLocked":
		return fmt.Errorf("delete refused (%s): %w: the version is under object lock (a legal hold, or retention: governance retention yields to GovernanceBypass, compliance retention only to time), or the credentials may not delete object versions",
			resp.Code, err)
	}
	return fmt.Errorf("delete: %w", c.classify(err))
}
