package clock

import (
	"time"

	"golang.org/x/sys/unix"
)

// kernelSync reads the kernel's NTP state with a read-only adjtimex call.
func kernelSync() SyncStatus {
	var tx unix.Timex
	state, err := unix.Adjtimex(&tx)
	if err != nil {
		return SyncStatus{State: Unknown, Source: "adjtimex", Detail: "adjtimex: " + err.Error()}
	}
	return fromTimex(state, tx.Status, tx.Maxerror)
}

// fromTimex turns adjtimex's answer into a SyncStatus. maxerror is in µs.
func fromTimex(state int, status int32, maxerror int64) SyncStatus {
	st := SyncStatus{Source: "adjtimex", MaxError: time.Duration(maxerror) * time.Microsecond}
	if state == unix.TIME_ERROR || status&unix.STA_UNSYNC != 0 {
		st.State = Unsynchronised
		st.Detail = "kernel clock not disciplined by NTP; run chrony or systemd-timesyncd"
		return st
	}
	st.State = Synchronised
	return st
}
