package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"steward/internal/crash"
)

// TestReliabilityDocCoversTheSuite keeps docs/reliability.md true to the
// suite: its crash-point table names every point crash.List holds (an erase
// point by its "<step>" pattern), its fuzzing table every fuzz target in
// the module, and its outage table every fault of issue 16 during every
// capability; no table names a point, target or test that does not exist.
func TestReliabilityDocCoversTheSuite(t *testing.T) {
	root := repoRoot(t)
	doc := string(mustRead(t, filepath.Join(root, "docs", "reliability.md")))
	tests, targets := testFuncs(t, root)

	// Every test the document names exists (a subtest by its test).
	missing := map[string]bool{}
	for _, m := range regexp.MustCompile("`(Test\\w+)(/[^`]*)?`").FindAllStringSubmatch(doc, -1) {
		if !tests[m[1]] && !missing[m[1]] {
			missing[m[1]] = true
			t.Errorf("docs/reliability.md names %s, which no _test.go file defines", m[1])
		}
	}
	checkOutageTable(t, section(t, doc, "## Outages"))
	crashes := section(t, doc, "## Crash points")
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

	fuzzing := section(t, doc, "## Fuzzing")
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

// section is the part of doc from the heading to the next "## " heading.
func section(t *testing.T, doc, heading string) string {
	t.Helper()
	i := strings.Index(doc, "\n"+heading+"\n")
	if i < 0 {
		t.Fatalf("docs/reliability.md has no section %q", heading)
	}
	s, _, _ := strings.Cut(doc[i+1:], "\n## ")
	return s
}

// testFuncs finds every Test and Fuzz function in the module's _test.go
// files, whatever their build tags.
func testFuncs(t *testing.T, root string) (tests, fuzz map[string]bool) {
	t.Helper()
	tests, fuzz = map[string]bool{}, map[string]bool{}
	def := regexp.MustCompile(`(?m)^func ((Test|Fuzz)\w+)\((t \*testing\.T|f \*testing\.F)\)`)
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "bin" || d.Name() == ".git" || d.Name() == "testdata" || d.Name() == ".cache") {
			return filepath.SkipDir
		}
		if strings.HasSuffix(path, "_test.go") {
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for _, m := range def.FindAllStringSubmatch(string(b), -1) {
				if m[2] == "Fuzz" {
					fuzz[m[1]] = true
				} else {
					tests[m[1]] = true
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(tests) == 0 || len(fuzz) == 0 {
		t.Fatal("no tests or fuzz targets found: the walk is wrong")
	}
	return tests, fuzz
}

// The outage matrix of issue 16: each fault during each capability.
var (
	outageFaults = []string{"S3 server stopped", "PostgreSQL restarted", "state dir disk full", "repository disk full", "restic stops answering"}
	outageDuring = []string{"backup", "drill", "restore", "erase", "recovery kit", "daemon"}
)

// checkOutageTable: every row of the outage table names a known fault and
// capability and either tests (which the caller checks exist) or says why
// the pair cannot happen; every pair of the matrix has a row.
func checkOutageTable(t *testing.T, sec string) {
	t.Helper()
	covered := map[[2]string]bool{}
	rows := 0
	for line := range strings.SplitSeq(sec, "\n") {
		if !strings.HasPrefix(line, "| ") || strings.HasPrefix(line, "| Fault ") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "| "), " | ")
		if len(cells) != 5 {
			t.Errorf("outage table: a row needs 5 cells (Fault, During, What Steward did, Evidence, Test), has %d: %s", len(cells), line)
			continue
		}
		rows++
		fault, during, did, test := cells[0], cells[1], cells[2], strings.TrimSpace(cells[4])
		if !slices.Contains(outageFaults, fault) {
			t.Errorf("outage table: fault %q is none of %q", fault, outageFaults)
		}
		if !slices.Contains(outageDuring, during) {
			t.Errorf("outage table: %q is none of %q", during, outageDuring)
		}
		switch {
		case test == "—":
			if !strings.HasPrefix(did, "Not applicable:") {
				t.Errorf("outage table: %s during %s names no test and does not say why it is not applicable", fault, during)
			}
		case !regexp.MustCompile("^`Test\\w+(/[^`]*)?`(, `Test\\w+(/[^`]*)?`)*$").MatchString(test):
			t.Errorf("outage table: %s during %s: the Test cell %q is not a list of `TestName`", fault, during, test)
		}
		covered[[2]string{fault, during}] = true
	}
	if rows == 0 {
		t.Fatal("outage table: no rows found")
	}
	for _, f := range outageFaults {
		for _, d := range outageDuring {
			if !covered[[2]string{f, d}] {
				t.Errorf("outage table: no row for %s during %s", f, d)
			}
		}
	}
}
