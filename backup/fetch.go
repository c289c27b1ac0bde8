package backup

import (
	"archive/tar"
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"sync"
	"sync/atomic"

	"steward/internal/audit"
	"steward/internal/objstore"
)

// Bounds of the S3 fetch pipeline. Objects are fetched ahead of the tar
// writer by up to fetchAhead concurrent GETs; an object of at most
// bufferMax bytes is read whole into memory (and hashed) by its fetcher,
// a larger one is only opened ahead and streamed when its turn comes.
// Buffered bodies never exceed fetchBudget bytes in all, so the memory
// used is bounded whatever the bucket's size or object count.
const (
	fetchAhead  = 8
	fetchBudget = 32 << 20
	bufferMax   = 4 << 20
)

// fetched is one object on its way from the bucket to the archive.
type fetched struct {
	obj  objstore.Object // as listed
	done chan struct{}   // closed when the fields below are set
	st   objstore.Object // as the GET answered
	body []byte          // whole body (buffered objects)
	sum  [sha256.Size]byte
	rc   io.ReadCloser // open body to stream (large or changed objects)
	gone bool          // deleted since it was listed
	err  error
	held int64 // budget bytes held until written
}

// streamBucket writes every current object, in key order, as one tar
// archive to w and records each in m. GETs run ahead of the writer (see
// fetchAhead, fetchBudget); an error fetching object k is returned when
// the writer reaches k, after objects 0..k-1 have been written, so the
// stream fails exactly as a sequential one would.
func (e *Engine) streamBucket(ctx context.Context, c *objstore.Client, w io.Writer, m *Manifest, bytesRead, filesDone *atomic.Int64) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	budget := newByteBudget(fetchBudget)
	queue := make(chan *fetched, fetchAhead)
	slots := make(chan struct{}, fetchAhead)
	var listErr error
	var workers sync.WaitGroup
	go func() {
		defer close(queue)
		var n int64
		listErr = c.List(ctx, func(o objstore.Object) error {
			if testHookObject != nil {
				testHookObject(n)
			}
			n++
			f := &fetched{obj: o, done: make(chan struct{})}
			if o.Size <= bufferMax {
				f.held = bufClass(o.Size)
				if err := budget.acquire(ctx, f.held); err != nil {
					return err
				}
			}
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				budget.release(f.held)
				return ctx.Err()
			}
			select {
			case queue <- f:
			case <-ctx.Done():
				<-slots
				budget.release(f.held)
				return ctx.Err()
			}
			workers.Go(func() {
				defer func() { <-slots }()
				fetchObject(ctx, c, f, bytesRead)
				close(f.done)
			})
			return nil
		})
	}()

	bw := bufio.NewWriterSize(w, 1<<20)
	tw := tar.NewWriter(bw)
	err := writeArchive(tw, queue, budget, m, bytesRead, filesDone)
	cancel()
	// Drain: every fetcher ends (its context is cancelled); open bodies
	// are closed, buffers returned.
	for f := range queue {
		<-f.done
		f.release(budget)
	}
	workers.Wait()
	if err != nil {
		return err
	}
	if listErr != nil {
		// No end-of-archive: the stream is incomplete.
		return listErr
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return bw.Flush()
}

// writeArchive takes the fetched objects in order and writes them (the
// caller ends the archive once the listing is known to be complete).
func writeArchive(tw *tar.Writer, queue <-chan *fetched, budget *byteBudget, m *Manifest, bytesRead, filesDone *atomic.Int64) error {
	buf := make([]byte, 256<<10)
	for f := range queue {
		<-f.done
		err := f.write(tw, buf, m, bytesRead)
		f.release(budget)
		if err != nil {
			return err
		}
		if !f.gone {
			filesDone.Add(1)
		}
	}
	return nil
}

// fetchObject opens one object and, if it is small enough and the size
// the server answered is the listed one, reads and hashes it whole.
func fetchObject(ctx context.Context, c *objstore.Client, f *fetched, bytesRead *atomic.Int64) {
	rc, st, err := c.Open(ctx, f.obj.Key)
	if errors.Is(err, objstore.ErrObjectGone) {
		f.gone = true
		return
	}
	if err != nil {
		f.err = err
		return
	}
	f.st = st
	if f.held == 0 || st.Size != f.obj.Size {
		f.rc = rc // streamed by the writer
		return
	}
	defer rc.Close()
	body := getBuf(f.held)[:st.Size]
	n, err := io.ReadFull(&countingReader{r: rc, n: bytesRead}, body)
	if err == nil {
		// The body must end where the server said it does.
		var one [1]byte
		if k, _ := rc.Read(one[:]); k > 0 {
			err = fmt.Errorf("more than the %d bytes announced", st.Size)
		}
	}
	if err != nil {
		putBuf(body)
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			err = fmt.Errorf("got %d of %d bytes", n, st.Size)
		}
		f.err = fmt.Errorf("object %s: %w", audit.HashName(f.obj.Key), err)
		return
	}
	f.body = body
	f.sum = sha256.Sum256(body)
}

// write adds the object to the archive and the manifest.
func (f *fetched) write(tw *tar.Writer, buf []byte, m *Manifest, bytesRead *atomic.Int64) error {
	if f.err != nil {
		return f.err
	}
	if f.gone {
		return nil
	}
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: f.obj.Key, Size: f.st.Size, Mode: 0o600, ModTime: f.st.LastModified, Format: tar.FormatPAX,
		PAXRecords: objstore.ArchiveRecords(f.st)}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	var n int64
	var sum []byte
	if f.rc != nil {
		h := sha256.New()
		var err error
		n, err = io.CopyBuffer(tw, io.TeeReader(&countingReader{r: f.rc, n: bytesRead}, h), buf)
		if err != nil {
			return fmt.Errorf("object %s: %w", audit.HashName(f.obj.Key), err)
		}
		if n != f.st.Size {
			return fmt.Errorf("object %s: got %d of %d bytes", audit.HashName(f.obj.Key), n, f.st.Size)
		}
		sum = h.Sum(nil)
	} else {
		k, err := tw.Write(f.body)
		if err != nil {
			return err
		}
		n, sum = int64(k), f.sum[:]
	}
	m.Objects = append(m.Objects, ObjectEntry{Key: f.obj.Key, Size: n, SHA256: hex.EncodeToString(sum)})
	m.Count++
	m.Bytes += n
	return nil
}

// release closes the object's open body, returns its buffer and budget.
func (f *fetched) release(b *byteBudget) {
	if f.rc != nil {
		f.rc.Close()
		f.rc = nil
	}
	if f.body != nil {
		putBuf(f.body)
		f.body = nil
	}
	b.release(f.held)
	f.held = 0
}

// byteBudget bounds the bytes held by buffered objects.
type byteBudget struct {
	mu    sync.Mutex
	avail int64
	wake  chan struct{}
}

func newByteBudget(n int64) *byteBudget {
	return &byteBudget{avail: n, wake: make(chan struct{})}
}

func (b *byteBudget) acquire(ctx context.Context, n int64) error {
	for {
		b.mu.Lock()
		if b.avail >= n {
			b.avail -= n
			b.mu.Unlock()
			return nil
		}
		wake := b.wake
		b.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (b *byteBudget) release(n int64) {
	if n == 0 {
		return
	}
	b.mu.Lock()
	b.avail += n
	close(b.wake)
	b.wake = make(chan struct{})
	b.mu.Unlock()
}

// Buffers for whole objects come in power-of-two classes from 64 KiB to
// bufferMax and are reused, so a bucket of many small objects does not
// churn the heap.
const minBufClass = 64 << 10

var bufPools [32]sync.Pool

func bufClass(n int64) int64 {
	if n <= minBufClass {
		return minBufClass
	}
	return 1 << bits.Len64(uint64(n-1))
}

func getBuf(class int64) []byte {
	if v := bufPools[bits.Len64(uint64(class))].Get(); v != nil {
		return *(v.(*[]byte))
	}
	return make([]byte, class)
}

func putBuf(b []byte) {
	b = b[:cap(b)]
	c := int64(cap(b))
	if c < minBufClass || c > bufferMax || c&(c-1) != 0 {
		return
	}
	bufPools[bits.Len64(uint64(c))].Put(&b)
}

// testHookObject, when set by a test, is called before each object is
// fetched with the number of objects handed to fetchers so far (fault
// injection).
var testHookObject func(dispatched int64)
