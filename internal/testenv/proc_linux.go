package testenv

import "syscall"

// sysProcAttr makes the kernel send sig to the server if the test binary
// dies without running its cleanups, so no server outlives a crashed test.
// With cred, the server runs as that user (Go drops privileges before it
// sets the parent-death signal, so the signal survives the switch).
func sysProcAttr(sig syscall.Signal, cred *syscall.Credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: sig, Credential: cred}
}
