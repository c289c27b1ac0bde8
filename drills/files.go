package drills

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"steward/internal/manifest"
)

// A path source can hold millions of files, so its drill never holds the
// manifest or the restored tree in memory: the manifest's files (in walk
// order, streamed from its spool) are merged with a walk of the restored
// tree (in the same order), the restored files being hashed on workers a
// window ahead of the merge. Memory is the window, not the file count.

// restored is one file or symlink found in the restored tree; done is
// closed once a regular file is hashed.
type restored struct {
	rel  string
	size int64
	link string
	reg  bool
	sum  string
	err  error
	done chan struct{}
}

// window is how many restored entries may be walked ahead of the merge.
const window = 512

// verifyFiles makes the three file checks (names, bytes, content hash) of
// the tree restored at root against m, hashing on workers goroutines at
// once (0: one per CPU).
func verifyFiles(ctx context.Context, root string, m *manifest.Loaded, workers int) ([]Check, error) {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	hashName, newHash := m.FileHash()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ordered := make(chan *restored, window)
	work := make(chan *restored, window)
	var walkErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(ordered)
		defer close(work)
		walkErr = filepath.WalkDir(root, func(p string, de fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if de.IsDir() {
				return nil
			}
			rel, _ := filepath.Rel(root, p)
			it := &restored{rel: filepath.ToSlash(rel), done: make(chan struct{})}
			info, err := de.Info()
			if err != nil {
				return err
			}
			switch {
			case info.Mode()&fs.ModeSymlink != 0:
				if it.link, err = os.Readlink(p); err != nil {
					return err
				}
				it.size = info.Size()
				close(it.done)
			case info.Mode().IsRegular():
				it.reg = true
				select {
				case work <- it:
				case <-ctx.Done():
					return ctx.Err()
				}
			default:
				return nil // not content
			}
			select {
			case ordered <- it:
			case <-ctx.Done():
				return ctx.Err()
			}
			return nil
		})
	})
	for range workers {
		wg.Go(func() {
			buf := make([]byte, 1<<20)
			h := newHash()
			for it := range work {
				h.Reset()
				it.sum, it.size, it.err = hashFile(filepath.Join(root, filepath.FromSlash(it.rel)), h, buf)
				close(it.done)
			}
		})
	}
	c := newTally(hashName)
	var next *restored
	pull := func() (*restored, error) {
		it, ok := <-ordered
		if !ok {
			return nil, nil
		}
		<-it.done
		if it.err != nil {
			return nil, it.err
		}
		return it, nil
	}
	var err error
	if next, err = pull(); err == nil {
		err = m.Files(func(w manifest.FileEntry) error {
			c.want(w)
			for next != nil && manifest.ComparePaths(next.rel, w.Path) < 0 {
				c.extra(next)
				if next, err = pull(); err != nil {
					return err
				}
			}
			if next == nil || next.rel != w.Path {
				c.missing.add(w.Path)
				return nil
			}
			c.pair(w, next)
			next, err = pull()
			return err
		})
	}
	for err == nil && next != nil {
		c.extra(next)
		next, err = pull()
	}
	cancel()
	for range ordered { // let the walk end
	}
	wg.Wait()
	if err == nil {
		// The merge took every entry, so the walk had ended on its own
		// before cancel: this is its own result.
		err = walkErr
	}
	if err != nil {
		return nil, fmt.Errorf("read the restored files: %w", err)
	}
	return c.checks(), nil
}

// tally counts what the merge found, naming at most maxNamed of each kind.
type tally struct {
	hash                         string
	wantN, gotN                  int64
	wantBytes, gotBytes          int64
	missing, extras, sizes, sums capped
}

func newTally(hash string) *tally { return &tally{hash: hash} }

func (c *tally) want(w manifest.FileEntry) { c.wantN++; c.wantBytes += w.Size }

func (c *tally) got(g *restored) { c.gotN++; c.gotBytes += g.size }

func (c *tally) extra(g *restored) { c.got(g); c.extras.add(g.rel) }

func (c *tally) pair(w manifest.FileEntry, g *restored) {
	c.got(g)
	if g.size != w.Size {
		c.sizes.add(fmt.Sprintf("%s (manifest %d bytes, restored %d)", w.Path, w.Size, g.size))
	}
	switch {
	case w.Link != "" || g.link != "":
		if w.Link != g.link {
			c.sums.add(w.Path + " (symlink target differs)")
		}
	case w.Sum() != g.sum:
		c.sums.add(w.Path + " (" + c.hash + " differs)")
	}
}

func (c *tally) checks() []Check {
	names := Check{Name: "files: names", Expected: fmt.Sprintf("%d files as in the manifest, nothing else", c.wantN),
		Actual: fmt.Sprintf("%d restored; %d missing, %d not in the manifest", c.gotN, c.missing.n, c.extras.n), Result: ResultPassed}
	if c.missing.n+c.extras.n > 0 {
		names.Result = ResultFailed
		var parts []string
		if c.missing.n > 0 {
			parts = append(parts, "missing: "+c.missing.String())
		}
		if c.extras.n > 0 {
			parts = append(parts, "not in the manifest: "+c.extras.String())
		}
		names.Detail = strings.Join(parts, "; ")
	}
	size := Check{Name: "files: bytes", Expected: fmt.Sprintf("%d bytes in total, each as in the manifest", c.wantBytes),
		Actual: fmt.Sprintf("%d bytes in total; %d differ", c.gotBytes, c.sizes.n), Result: ResultPassed}
	if c.sizes.n > 0 {
		size.Result, size.Detail = ResultFailed, c.sizes.String()
	}
	content := Check{Name: "files: " + c.hash, Expected: fmt.Sprintf("every %s of the %d equal to the manifest", c.hash, c.wantN),
		Actual: fmt.Sprintf("%d differ", c.sums.n), Result: ResultPassed}
	if c.sums.n > 0 {
		content.Result, content.Detail = ResultFailed, c.sums.String()
	}
	return []Check{names, size, content}
}

// capped keeps the first maxNamed names (in walk order) and counts all.
type capped struct {
	list []string
	n    int
}

func (l *capped) add(s string) {
	l.n++
	if len(l.list) < maxNamed {
		l.list = append(l.list, s)
	}
}

func (l capped) String() string {
	s := strings.Join(l.list, ", ")
	if l.n > len(l.list) {
		s += fmt.Sprintf(" and %d more", l.n-len(l.list))
	}
	return s
}
