//go:build !linux

package testenv

import "testing"

// SmallDisk needs Linux's user and mount namespaces: elsewhere the test
// is skipped.
func SmallDisk(t *testing.T, size int64, fn func(dir string)) {
	t.Helper()
	t.Skip("testenv: no small disk: SmallDisk needs Linux")
}
