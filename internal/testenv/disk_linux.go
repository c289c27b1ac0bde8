package testenv

import (
	"errors"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// smallDiskEnv carries the disk's size to the child process.
const smallDiskEnv = "STEWARD_TESTENV_SMALL_DISK"

// smallDiskSkip starts the line a child prints when it cannot mount the
// disk; the parent skips with that line.
const smallDiskSkip = "testenv: no small disk: "

// SmallDisk runs fn with dir, the root of a new tmpfs file system of size
// bytes (mode 0700), so that a test can fill a disk for real. The mount
// needs a mount namespace of its own, so SmallDisk runs the calling test
// again in a child process, in a new user and mount namespace (no root
// needed, where the kernel allows unprivileged user namespaces), and
// reports the child's failures as the test's; fn runs in the child only.
// Whatever the test does before calling SmallDisk runs in both processes,
// so call it first and call it once per test. Where the namespaces or the
// mount are not allowed, the test is skipped, saying why.
func SmallDisk(t *testing.T, size int64, fn func(dir string)) {
	t.Helper()
	if v := os.Getenv(smallDiskEnv); v != "" {
		inSmallDisk(t, v, fn)
		return
	}
	child := exec.Command(os.Args[0], "-test.run="+runPattern(t.Name()), "-test.count=1", "-test.v")
	child.Env = append(os.Environ(), smallDiskEnv+"="+strconv.FormatInt(size, 10))
	child.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
		Pdeathsig:   syscall.SIGKILL,
	}
	out, err := child.CombinedOutput()
	if _, reason, ok := strings.Cut(string(out), smallDiskSkip); ok {
		reason, _, _ = strings.Cut(reason, "\n")
		t.Skipf("%s%s", smallDiskSkip, reason)
	}
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Skipf("%sstart the test in a user and mount namespace: %v", smallDiskSkip, err)
	}
	if err != nil {
		t.Fatalf("on a %d-byte disk, in a child process (%v):\n%s", size, err, out)
	}
	if testing.Verbose() {
		t.Logf("on a %d-byte disk, in a child process:\n%s", size, out)
	}
}

func inSmallDisk(t *testing.T, size string, fn func(dir string)) {
	t.Helper()
	dir := t.TempDir()
	// Mounts stay in this process's namespace, and so does the disk.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		t.Skipf("%smake the mounts private: %v", smallDiskSkip, err)
	}
	if err := unix.Mount("steward-test", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0700,size="+size); err != nil {
		t.Skipf("%smount a tmpfs: %v", smallDiskSkip, err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			t.Errorf("testenv: unmount the small disk: %v", err)
		}
	})
	fn(dir)
}

// runPattern is the -test.run pattern that selects exactly the test name.
func runPattern(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	return strings.Join(parts, "/")
}
