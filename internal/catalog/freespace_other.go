//go:build !(linux || darwin || freebsd)

package catalog

// freeSpace is unknown here: only SQLITE_FULL counts as a full disk.
func freeSpace(string) (uint64, bool) { return 0, false }
