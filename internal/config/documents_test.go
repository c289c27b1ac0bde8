package config

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// TestOneDocumentOneFile: a second YAML document is a problem, not
// silently ignored; a missing config file is a config problem (exit 2),
// not a failure.
func TestOneDocumentOneFile(t *testing.T) {
	ps := problemsOf(t, `
contract: {id: C1, customer: City, service: Svc, end_date: 2099-01-01}
repositories:
  - {name: r1, local: {path: /tmp/r1}}
sources:
  - {name: s1, path: {path: /tmp/s1}}
jobs:
  - {name: j1, sources: [s1], repository: r1}
---
jobs:
  - {name: j2, sources: [s1], repository: r1}
`)
	if len(ps) != 1 || !strings.Contains(ps[0].Message, "second YAML document") {
		t.Fatalf("a second document: %v", ps)
	}
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
	var problems Problems
	if !errors.As(err, &problems) || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("a missing config file: %T %v", err, err)
	}
}
