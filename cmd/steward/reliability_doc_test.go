package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"steward/internal/crash"
)

// TestReliabilityDocCoversTheSuite keeps docs/reliability.md true to the
// suite: its crash-point table names every point crash.List holds (an erase
// point by its "<step>" pattern), and its fuzzing table every fuzz target
// in the module, and neither names one that does not exist.
func TestReliabilityDocCoversTheSuite(t *testing.T) {
	root := repoRoot(t)
	doc := string(mustRead(t, filepath.Join(root, "docs", "reliability.md")))
	crashes, _, _ := strings.Cut(doc[strings.Index(doc, "## Crash points"):], "\n## ")
	for _, p := range crash.List() {
		name, _, templated := strings.Cut(p, ":")
		want := "| `" + p + "`"
		if templated {
			want = "| `" + name + ":<step>`"
		}
		if !strings.Contains(crashes, want) {
			t.Errorf("docs/reliability.md's crash-point table has no row %q for crash point %s", want, p)
		}
	}

	// Every Fuzz function in the module, and the fuzzing table's rows.
	targets := map[string]bool{}
	def := regexp.MustCompile(`(?m)^func (Fuzz\w+)\(f \*testing\.F\)`)
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "bin" || d.Name() == ".git" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if strings.HasSuffix(path, "_test.go") {
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for _, m := range def.FindAllStringSubmatch(string(b), -1) {
				targets[m[1]] = true
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	fuzzing, _, _ := strings.Cut(doc[strings.Index(doc, "## Fuzzing"):], "\n## ")
	listed := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `(Fuzz\\w+)` \\| `").FindAllStringSubmatch(fuzzing, -1) {
		listed[m[1]] = true
	}
	for f := range targets {
		if !listed[f] {
			t.Errorf("docs/reliability.md's fuzzing table has no row for %s", f)
		}
	}
	for f := range listed {
		if !targets[f] {
			t.Errorf("docs/reliability.md's fuzzing table lists %s, which no test defines", f)
		}
	}
	if len(targets) == 0 {
		t.Fatal("no fuzz targets found: the walk is wrong")
	}
}
