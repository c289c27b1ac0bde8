package resticx

import (
	"os"

	"golang.org/x/sys/unix"
)

// pipeSize is the capacity asked for a stdin pipe: 1 MiB, the default
// /proc/sys/fs/pipe-max-size, so that restic's chunker (which reads up to
// 512 KiB at a time) gets whole buffers and the writer blocks rarely. The
// kernel's default of 64 KiB costs a wake-up of each side per 64 KiB.
const pipeSize = 1 << 20

// NewPipe returns an OS pipe for Call.Stdin: restic reads r directly, the
// caller writes w. Both ends are close-on-exec, so no other restic process
// inherits the write end (which would hold off the end of input). If the
// larger capacity is refused (a lowered pipe-max-size), the pipe keeps the
// kernel's default; only speed differs.
func NewPipe() (r, w *os.File, err error) {
	r, w, err = os.Pipe()
	if err != nil {
		return nil, nil, err
	}
	_, _ = unix.FcntlInt(w.Fd(), unix.F_SETPIPE_SZ, pipeSize)
	return r, w, nil
}
