package testenv

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// FillDisk writes dir/filler until the file system holding dir is full
// (ENOSPC) and returns its path: removing that file frees the space again.
// Use it on a SmallDisk, never on a real one.
func FillDisk(t testing.TB, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		t.Fatalf("testenv: fill disk: %v", err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for len(buf) > 0 {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("testenv: fill disk: %v", err)
			}
			buf = buf[:len(buf)/2] // the last pages, in ever smaller writes
		}
	}
	return path
}
