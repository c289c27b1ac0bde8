package drills

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"

	"steward/internal/manifest"
	"steward/internal/objstore"
	"steward/internal/pgsql"
)

// maxNamed is how many differing files, tables or objects a check names.
const maxNamed = 20

// entry is one file, table or object as the manifest has it or as it was
// found in scratch: a size (rows for a table) and a content hash (or a
// symlink's target).
type entry struct {
	size int64
	sum  string
	link string
}

// verify checks the scratch copy against the manifest, reading it back
// independently of restic: files are hashed, tables checksummed on the
// restored database with pgsql's algorithm, objects read back from the
// scratch bucket and hashed.
func (d *Driller) verify(ctx context.Context, sc *scratch, m *manifest.Loaded) ([]Check, error) {
	want := map[string]entry{}
	switch m.Kind {
	case "path":
		return verifyFiles(ctx, sc.target.Dir, m, 0)
	case "postgres":
		method, err := checksumMethod(m.Manifest)
		if err != nil {
			return nil, err
		}
		for _, t := range m.Tables {
			want[t.Schema+"."+t.Name] = entry{size: t.Rows, sum: t.Checksum}
		}
		conn, err := pgsql.Connect(ctx, sc.target.Postgres, sc.target.PostgresPassword)
		if err != nil {
			return nil, err
		}
		defer conn.Close(context.WithoutCancel(ctx))
		var tables []pgsql.Table
		if method == pgsql.ChecksumMethod {
			// A manifest made before copyxxh3/v1: the row-text sums.
			tables, err = pgsql.Manifest(ctx, conn, "")
		} else {
			tables, err = pgsql.CopyChecksums(ctx, conn, cmp.Or(m.DumpEncoding, "UTF8"))
		}
		if err != nil {
			return nil, fmt.Errorf("checksum the restored tables: %w", err)
		}
		got := map[string]entry{}
		for _, t := range tables {
			got[t.Schema+"."+t.Name] = entry{size: t.Rows, sum: t.Checksum}
		}
		return compare("tables", "rows", method, want, got), nil
	default:
		for _, o := range m.Objects {
			want[o.Key] = entry{size: o.Size, sum: o.SHA256}
		}
		var got map[string]entry
		var err error
		if sc.s3 != nil {
			got, err = hashBucket(ctx, *sc.s3)
		} else {
			got, err = hashTree(ctx, sc.target.Dir, 0, sha256.New)
		}
		if err != nil {
			return nil, fmt.Errorf("read the restored objects: %w", err)
		}
		return compare("objects", "bytes", "SHA-256", want, got), nil
	}
}

// checksumMethod is the method that every table checksum of a postgres
// manifest names (its prefix): pgsql.CopyMethod, or pgsql.ChecksumMethod
// in manifests made before it. A manifest without tables is checked with
// the current one.
func checksumMethod(m *manifest.Manifest) (string, error) {
	method := pgsql.CopyMethod
	for i, t := range m.Tables {
		name, _, _ := strings.Cut(t.Checksum, ":")
		if name != pgsql.CopyMethod && name != pgsql.ChecksumMethod {
			return "", fmt.Errorf("manifest: table %s.%s: checksum method %q is not one this Steward knows (%s, %s)", t.Schema, t.Name, name, pgsql.CopyMethod, pgsql.ChecksumMethod)
		}
		if i > 0 && name != method {
			return "", fmt.Errorf("manifest: table %s.%s: checksum method %q, other tables have %q", t.Schema, t.Name, name, method)
		}
		method = name
	}
	return method, nil
}

// compare makes three checks: every name restored and nothing extra;
// sizes (or row counts); contents (hashes, checksums, link targets).
func compare(noun, unit, hash string, want, got map[string]entry) []Check {
	var missing, extra, sizes, sums []string
	var wantBytes, gotBytes int64
	for name, w := range want {
		wantBytes += w.size
		g, ok := got[name]
		if !ok {
			missing = append(missing, name)
			continue
		}
		if g.size != w.size {
			sizes = append(sizes, fmt.Sprintf("%s (manifest %d %s, restored %d)", name, w.size, unit, g.size))
		}
		switch {
		case w.link != "" || g.link != "":
			if w.link != g.link {
				sums = append(sums, name+" (symlink target differs)")
			}
		case w.sum != g.sum:
			sums = append(sums, name+" ("+hash+" differs)")
		}
	}
	for name, g := range got {
		gotBytes += g.size
		if _, ok := want[name]; !ok {
			extra = append(extra, name)
		}
	}
	names := Check{Name: noun + ": names", Expected: fmt.Sprintf("%d %s as in the manifest, nothing else", len(want), noun),
		Actual: fmt.Sprintf("%d restored; %d missing, %d not in the manifest", len(got), len(missing), len(extra)), Result: ResultPassed}
	if len(missing)+len(extra) > 0 {
		names.Result = ResultFailed
		var parts []string
		if len(missing) > 0 {
			parts = append(parts, "missing: "+named(missing))
		}
		if len(extra) > 0 {
			parts = append(parts, "not in the manifest: "+named(extra))
		}
		names.Detail = strings.Join(parts, "; ")
	}
	size := Check{Name: noun + ": " + unit, Expected: fmt.Sprintf("%d %s in total, each as in the manifest", wantBytes, unit),
		Actual: fmt.Sprintf("%d %s in total; %d differ", gotBytes, unit, len(sizes)), Result: ResultPassed}
	if len(sizes) > 0 {
		size.Result, size.Detail = ResultFailed, named(sizes)
	}
	content := Check{Name: noun + ": " + hash, Expected: fmt.Sprintf("every %s of the %d equal to the manifest", hash, len(want)),
		Actual: fmt.Sprintf("%d differ", len(sums)), Result: ResultPassed}
	if len(sums) > 0 {
		content.Result, content.Detail = ResultFailed, named(sums)
	}
	return []Check{names, size, content}
}

func named(list []string) string {
	slices.Sort(list)
	if len(list) > maxNamed {
		return strings.Join(list[:maxNamed], ", ") + fmt.Sprintf(" and %d more", len(list)-maxNamed)
	}
	return strings.Join(list, ", ")
}

// hashTree lists every regular file and symlink under root (paths
// relative, slash-separated) with its size and content hash made by
// newHash (or link target), hashing files on workers goroutines at once
// (0: one per CPU).
func hashTree(ctx context.Context, root string, workers int, newHash func() hash.Hash) (map[string]entry, error) {
	type job struct {
		rel, path string
		size      int64
	}
	out := map[string]entry{}
	var jobs []job
	err := filepath.WalkDir(root, func(p string, de fs.DirEntry, err error) error {
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
		rel = filepath.ToSlash(rel)
		info, err := de.Info()
		if err != nil {
			return err
		}
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			l, err := os.Readlink(p)
			if err != nil {
				return err
			}
			out[rel] = entry{size: info.Size(), link: l}
		case info.Mode().IsRegular():
			jobs = append(jobs, job{rel: rel, path: p, size: info.Size()})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	// Largest first, so that one big file does not finish last alone.
	slices.SortFunc(jobs, func(a, b job) int { return int(b.size - a.size) })
	var (
		mu    sync.Mutex
		wg    sync.WaitGroup
		first error
		next  = make(chan job)
	)
	for range workers {
		wg.Go(func() {
			buf := make([]byte, 1<<20)
			h := newHash()
			for j := range next {
				h.Reset()
				sum, n, err := hashFile(j.path, h, buf)
				mu.Lock()
				if err != nil && first == nil {
					first = err
				}
				out[j.rel] = entry{size: n, sum: sum}
				mu.Unlock()
			}
		})
	}
	for _, j := range jobs {
		if ctx.Err() != nil {
			break
		}
		next <- j
	}
	close(next)
	wg.Wait()
	if first != nil {
		return nil, first
	}
	return out, ctx.Err()
}

func hashFile(path string, h interface {
	io.Writer
	Sum([]byte) []byte
}, buf []byte) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	n, err := io.CopyBuffer(h, f, buf)
	if err != nil {
		return "", n, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// hashBucket reads back every object of the scratch bucket and hashes it.
func hashBucket(ctx context.Context, t objstore.Target) (map[string]entry, error) {
	c, err := objstore.New(t)
	if err != nil {
		return nil, err
	}
	out := map[string]entry{}
	buf := make([]byte, 1<<20)
	err = c.List(ctx, func(o objstore.Object) error {
		rc, _, err := c.Open(ctx, o.Key)
		if err != nil {
			return err
		}
		defer rc.Close()
		h := sha256.New()
		n, err := io.CopyBuffer(h, rc, buf)
		if err != nil {
			return err
		}
		out[o.Key] = entry{size: n, sum: hex.EncodeToString(h.Sum(nil))}
		return nil
	})
	return out, err
}
