package resticx

import (
	"bytes"
	"os"
	"strconv"
	"syscall"
)

// sample reads pid's CPU time (utime, stime) and state from
// /proc/PID/stat and its I/O counters from /proc/PID/io.
func sample(pid int) sign {
	var s sign
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return s
	}
	// The command name (field 2) is in parentheses and may hold spaces:
	// the fields that follow start after the last ')'.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return s
	}
	f := bytes.Fields(stat[i+1:])
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return s
	}
	s.stopped = f[0][0] == 'T' || f[0][0] == 't'
	s.counters[0], _ = strconv.ParseUint(string(f[11]), 10, 64)
	s.counters[1], _ = strconv.ParseUint(string(f[12]), 10, 64)
	s.ok = true
	io, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/io")
	if err != nil {
		return s // CPU time and state still tell
	}
	k := 2
	for line := range bytes.Lines(io) {
		_, v, ok := bytes.Cut(line, []byte(":"))
		if !ok || k >= len(s.counters) {
			continue
		}
		s.counters[k], _ = strconv.ParseUint(string(bytes.TrimSpace(v)), 10, 64)
		k++
	}
	return s
}

// resume continues a stopped process, so that it can act on the SIGINT it
// was just sent (and remove its lock) instead of holding it until killed.
func resume(p *os.Process) {
	if sample(p.Pid).stopped {
		_ = p.Signal(syscall.SIGCONT)
	}
}
