package errs

import (
	"errors"
	"fmt"
	"testing"
)

func TestUsage(t *testing.T) {
	err := Usage("--since %q: bad", "x")
	if !IsUsage(err) || err.Error() != `--since "x": bad` {
		t.Fatalf("%v", err)
	}
	if !IsUsage(fmt.Errorf("wrapped: %w", err)) {
		t.Fatal("wrapped usage error lost")
	}
	if IsUsage(errors.New("plain")) || AsUsage(nil) != nil {
		t.Fatal("plain error counted as usage")
	}
}
