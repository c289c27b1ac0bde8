package archtest

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "steward"

var capabilities = []string{"backup", "restore", "drills", "erase", "certs"}

// allowed lists the capability → capability imports that the design
// permits, all through exported APIs: restore opens repositories and reads
// manifests through backup's; a drill restores through restore's and
// checks against backup's manifests.
var allowed = map[string][]string{
	"restore": {"backup"},
	"drills":  {"restore", "backup"},
}

func capabilityOf(pkg string) string {
	rest, ok := strings.CutPrefix(pkg, module+"/")
	if !ok {
		return ""
	}
	top, _, _ := strings.Cut(rest, "/")
	for _, c := range capabilities {
		if top == c {
			return c
		}
	}
	return ""
}

func TestLayers(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) < 10 {
		t.Fatalf("go list found only %d packages", len(lines))
	}
	for _, line := range lines {
		f := strings.Fields(line)
		pkg, imports := f[0], f[1:]
		from := capabilityOf(pkg)
		for _, imp := range imports {
			to := capabilityOf(imp)
			if to == "" {
				continue
			}
			switch {
			case strings.HasPrefix(pkg, module+"/internal/"):
				t.Errorf("%s imports capability %s: shared machinery under internal/ must not depend on a capability", pkg, imp)
			case from != "" && from != to && !contains(allowed[from], to):
				t.Errorf("%s imports %s: capabilities stay separate (allowed: %v)", pkg, imp, allowed)
			}
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
