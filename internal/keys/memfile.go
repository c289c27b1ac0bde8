package keys

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// MemFile returns an anonymous in-memory file (memfd) that holds content,
// mode 0600, read position at its start. It never touches a disk and has
// no name in any directory: a child process that inherits it (as an
// exec.Cmd extra file, close-on-exec cleared for that child only) opens it
// as /dev/fd/N, as many times as it likes, each time from the start; a
// program that refuses a credentials file readable by others (libpq's
// passfile) sees a regular file of mode 0600. Use it for credentials files
// a child reads, so that the secret is in neither argv nor the
// environment. The caller closes it once the child has started.
func MemFile(name string, content []byte) (*os.File, error) {
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("memfd %s: %w", name, err)
	}
	f := os.NewFile(uintptr(fd), "memfd:"+name)
	if err := unix.Fchmod(fd, 0o600); err != nil {
		f.Close()
		return nil, fmt.Errorf("memfd %s: %w", name, err)
	}
	if _, err := f.Write(content); err != nil {
		f.Close()
		return nil, fmt.Errorf("memfd %s: %w", name, err)
	}
	if _, err := f.Seek(0, 0); err != nil {
		f.Close()
		return nil, fmt.Errorf("memfd %s: %w", name, err)
	}
	return f, nil
}
