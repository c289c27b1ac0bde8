//go:build unix && !linux

package testenv

import "syscall"

// sysProcAttr: only Linux has a parent-death signal, so elsewhere a
// crashed test binary can leave its servers running. Running a server as
// another user (cred) is supported on Linux only, where CI runs as root.
func sysProcAttr(_ syscall.Signal, cred *syscall.Credential) *syscall.SysProcAttr {
	if cred != nil {
		panic("testenv: running a server as another user is supported on Linux only")
	}
	return &syscall.SysProcAttr{}
}
