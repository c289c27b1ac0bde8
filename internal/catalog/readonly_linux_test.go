package catalog_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"steward/internal/catalog"
	"steward/internal/testenv"
)

// readOnlyCatalog opens the up-to-date catalog at path, which nothing can
// be written beside, reads it, checks that writes fail with ErrReadOnly and
// that the file is unchanged.
func readOnlyCatalog(t *testing.T, path string, before []byte) {
	t.Helper()
	s, err := catalog.Open(context.Background(), path)
	if err != nil {
		t.Fatalf("open read-only: %v", err)
	}
	if !errors.Is(s.ReadOnly(), catalog.ErrReadOnly) {
		t.Errorf("ReadOnly: %v", s.ReadOnly())
	}
	readAll(t, s)
	err = s.Put(context.Background(), "k", json.RawMessage(`2`))
	if !errors.Is(err, catalog.ErrReadOnly) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "make it writable for this user and run the command again; nothing was recorded") {
		t.Errorf("Put on a read-only catalog: %v", err)
	}
	s.Close()
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("the read-only catalog changed")
	}
}

// TestOpenInAReadOnlyDir: an up-to-date catalog in a directory this user
// cannot write to (0500, the file 0400) opens and reads; writes say why
// they fail. Root may write anyway, so this runs as another user only;
// TestOpenOnAReadOnlyFileSystem covers root.
func TestOpenInAReadOnlyDir(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root writes to a 0500 directory anyway")
	}
	dir := filepath.Join(t.TempDir(), "state")
	os.Mkdir(dir, 0o700)
	path := filepath.Join(dir, "catalog.db")
	seed(t, path)
	before, _ := os.ReadFile(path)
	os.Chmod(path, 0o400)
	os.Chmod(dir, 0o500)
	t.Cleanup(func() { os.Chmod(dir, 0o700) })
	readOnlyCatalog(t, path, before)
}

// TestOpenOnAReadOnlyFileSystem: the same on a file system mounted
// read-only, which stops root too.
func TestOpenOnAReadOnlyFileSystem(t *testing.T) {
	testenv.SmallDisk(t, 4<<20, func(dir string) {
		path := filepath.Join(dir, "catalog.db")
		seed(t, path)
		before, _ := os.ReadFile(path)
		if err := unix.Mount("", dir, "", unix.MS_REMOUNT|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV, ""); err != nil {
			t.Fatalf("remount read-only: %v", err)
		}
		readOnlyCatalog(t, path, before)
	})
}
