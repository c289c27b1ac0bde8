package keys

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
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
	sealed := kr.Seal(PurposeConfig, []byte("from-seal"))
	for _, tt := range []struct {
		name, ref, want, errHas string
	}{
		{"file", "file:" + file, "from-file", ""},
		{"env", "env:STEWARD_TEST_SECRET", "from-env", ""},
		{"sealed", sealed, "from-seal", ""},
		{"missing file", "file:" + file + "x", "", "does not exist"},
		{"unset env", "env:STEWARD_TEST_UNSET", "", "not set"},
		{"wrong purpose", kr.Seal("other", []byte("x")), "", "cannot be opened"},
		{"inline", "hunter2", "", "never written inline"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Resolve(kr, "f.secret", tt.ref)
			if tt.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errHas) || !strings.HasPrefix(err.Error(), "f.secret: ") {
					t.Fatalf("err %v, want %q", err, tt.errHas)
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
