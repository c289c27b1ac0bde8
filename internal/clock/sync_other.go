//go:build !linux

package clock

func kernelSync() SyncStatus {
	return SyncStatus{State: Unknown, Detail: "clock-sync check is implemented for Linux only"}
}
