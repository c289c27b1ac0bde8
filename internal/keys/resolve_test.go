package keys

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"steward/internal/errs"
)

func TestResolve(t *testing.T) {
	dir := t.TempDir()
	if err := CreateMasterKey(dir); err != nil {
		t.Fatal(err)
	}
	kr, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "s")
	os.WriteFile(file, []byte("from-file\n"), 0o600)
	t.Setenv("STEWARD_TEST_SECRET", "from-env")
	sealed := must(kr.Seal(PurposeConfig, []byte("from-seal")))
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, []byte("\n"), 0o600)
	t.Setenv("STEWARD_TEST_EMPTY", "")
	// usage: the config points at nothing, which is the operator's to fix
	// (exit 2); the others are failures.
	for _, tt := range []struct {
		name, ref, want, errHas string
		usage                   bool
	}{
		{"file", "file:" + file, "from-file", "", false},
		{"env", "env:STEWARD_TEST_SECRET", "from-env", "", false},
		{"sealed", sealed, "from-seal", "", false},
		{"missing file", "file:" + file + "x", "", "does not exist", true},
		{"empty file", "file:" + empty, "", "is empty", true},
		{"unreadable file", "file:" + dir, "", "read secret file", false},
		{"unset env", "env:STEWARD_TEST_UNSET", "", "STEWARD_TEST_UNSET is not set: export STEWARD_TEST_UNSET", true},
		{"empty env", "env:STEWARD_TEST_EMPTY", "", "export STEWARD_TEST_EMPTY", true},
		{"wrong purpose", must(kr.Seal("other", []byte("x"))), "", "cannot be opened", false},
		{"inline", "hunter2", "", "never written inline", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Resolve(kr, "f.secret", tt.ref)
			if tt.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errHas) || !strings.HasPrefix(err.Error(), "f.secret: ") {
					t.Fatalf("err %v, want %q", err, tt.errHas)
				}
				if errs.IsUsage(err) != tt.usage {
					t.Fatalf("%v: usage error %v, want %v", err, errs.IsUsage(err), tt.usage)
				}
				if strings.Contains(err.Error(), "hunter2") {
					t.Fatal("error echoes the value")
				}
				return
			}
			if err != nil || string(s.Reveal()) != tt.want {
				t.Fatalf("got %q, %v", s.Reveal(), err)
			}
		})
	}
}

func must(s string, err error) string {
	if err != nil {
		panic(err)
	}
	return s
}
