package archtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const module = "steward"

var capabilities = []string{"backup", "restore", "drills", "erase", "certs", "recovery"}

// allowed lists the capability → capability imports the design permits:
// a drill restores through restore's exported API, and erase renders its
// certificate through certs. Everything else a capability needs is under
// internal/.
var allowed = map[string][]string{
	"drills": {"restore"},
	"erase":  {"certs"},
}

// pkg is one package of the module as `go list` sees it (tests excluded).
type pkg struct {
	path    string
	dir     string
	files   []string
	imports []string
}

func listPackages(t *testing.T) []pkg {
	t.Helper()
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}|{{.Dir}}|{{join .GoFiles " "}}|{{join .Imports " "}}`, module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []pkg
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, "|")
		pkgs = append(pkgs, pkg{path: f[0], dir: f[1], files: strings.Fields(f[2]), imports: strings.Fields(f[3])})
	}
	if len(pkgs) < 15 {
		t.Fatalf("go list found only %d packages", len(pkgs))
	}
	return pkgs
}

// layer names what a package is: "cmd", "app", a capability, "internal"
// or "" (outside the module).
func layer(path string) string {
	rest, ok := strings.CutPrefix(path, module+"/")
	if !ok {
		return ""
	}
	top, _, _ := strings.Cut(rest, "/")
	switch {
	case top == "cmd" || top == "app" || top == "internal":
		return top
	case slices.Contains(capabilities, top):
		return top
	}
	return "other"
}

// TestLayers holds the fan: cmd → app → capabilities → internal. Nothing
// under internal/ imports a capability or app; no capability imports app
// or another capability beyond what allowed permits.
func TestLayers(t *testing.T) {
	for _, p := range listPackages(t) {
		from := layer(p.path)
		for _, imp := range p.imports {
			to := layer(imp)
			switch {
			case to == "" || to == "internal":
			case from == "internal":
				t.Errorf("%s imports %s: shared machinery under internal/ must not depend on %s", p.path, imp, to)
			case to == "cmd":
				t.Errorf("%s imports %s: nothing imports the CLI", p.path, imp)
			case to == "app" && from != "cmd":
				t.Errorf("%s imports %s: only cmd/ builds on app (the builder)", p.path, imp)
			case slices.Contains(capabilities, from) && from != to && !slices.Contains(allowed[from], to):
				t.Errorf("%s imports %s: capabilities stay separate (allowed: %v)", p.path, imp, allowed)
			}
		}
	}
}

// fixtures are the packages that set up real servers for tests and may
// talk to them directly, so that tests check Steward with code that is
// not Steward's.
var fixtures = []string{module + "/internal/testenv"}

// TestOneS3Client: no package but internal/objstore builds a minio-go
// client (one place for timeouts, retries and error classification).
func TestOneS3Client(t *testing.T) {
	for _, p := range listPackages(t) {
		if p.path == module+"/internal/objstore" || slices.Contains(fixtures, p.path) {
			continue
		}
		for _, imp := range p.imports {
			if strings.HasPrefix(imp, "github.com/minio/minio-go") {
				t.Errorf("%s imports %s: S3 goes through internal/objstore", p.path, imp)
			}
		}
	}
}

// TestOnePasswordHasher: no package but internal/auth hashes or checks
// operator passwords (one place for argon2id's parameters, the lockout
// and the audit of every login).
func TestOnePasswordHasher(t *testing.T) {
	found := false
	for _, p := range listPackages(t) {
		for _, imp := range p.imports {
			if imp != "golang.org/x/crypto/argon2" {
				continue
			}
			if p.path == module+"/internal/auth" {
				found = true
				continue
			}
			t.Errorf("%s imports %s: operator passwords are hashed and checked in internal/auth", p.path, imp)
		}
	}
	if !found {
		t.Error("internal/auth does not import argon2: the scan finds nothing, so it cannot hold")
	}
}

// databaseDDL is the SQL (upper case, as Steward writes SQL), not prose
// such as an error message that says a role may not create a database.
var databaseDDL = regexp.MustCompile(`\b(CREATE|DROP)\s+(DATABASE|ROLE|USER)\b`)

// TestOnePlaceForDatabaseDDL: no package but internal/pgsql creates or
// drops a database or a role.
func TestOnePlaceForDatabaseDDL(t *testing.T) {
	found := 0
	for _, p := range listPackages(t) {
		for _, f := range p.files {
			b, err := os.ReadFile(filepath.Join(p.dir, f))
			if err != nil {
				t.Fatal(err)
			}
			if !databaseDDL.Match(b) {
				continue
			}
			if p.path == module+"/internal/pgsql" {
				found++
				continue
			}
			if !slices.Contains(fixtures, p.path) {
				t.Errorf("%s/%s issues CREATE/DROP DATABASE or ROLE: databases and roles are made and dropped in internal/pgsql", p.path, f)
			}
		}
	}
	if found == 0 {
		t.Error("internal/pgsql issues no CREATE/DROP DATABASE: the scan finds nothing, so it cannot hold")
	}
}

// selfKill is a process killing itself: a crash hook.
var selfKill = regexp.MustCompile(`Kill\(\s*os\.Getpid\(\)`)

// TestOneCrashHook: no package but internal/crash kills its own process
// (crash points exist only in builds with -tags crashpoints; a hook
// anywhere else would be in the release binary). The scan covers each
// package's files as a normal build sees them, and finds internal/crash's
// kill in its crashpoints file, so that it can tell.
func TestOneCrashHook(t *testing.T) {
	found := false
	for _, p := range listPackages(t) {
		files := p.files
		if p.path == module+"/internal/crash" {
			files = append(files, "on.go")
		}
		for _, f := range files {
			b, err := os.ReadFile(filepath.Join(p.dir, f))
			if err != nil {
				t.Fatal(err)
			}
			if !selfKill.Match(b) {
				continue
			}
			if p.path == module+"/internal/crash" && f == "on.go" {
				found = true
				continue
			}
			t.Errorf("%s/%s kills its own process: crash points go through internal/crash (crash.Point), which only a -tags crashpoints build has", p.path, f)
		}
	}
	if !found {
		t.Error("internal/crash/on.go kills no process: the scan finds nothing, so it cannot hold")
	}
}

// TestServerDeclaresItsAccounts: internal/server reaches operator
// accounts only through the narrow interfaces it declares (Authenticator,
// Authorizer), never internal/auth's concrete Service; app adapts one to
// the other. The console's logic is then tested without accounts, and
// auth can change without touching the HTTP side.
func TestServerDeclaresItsAccounts(t *testing.T) {
	found := false
	for _, p := range listPackages(t) {
		if p.path != module+"/internal/server" {
			continue
		}
		found = true
		if slices.Contains(p.imports, module+"/internal/auth") {
			t.Errorf("internal/server imports internal/auth: declare what the console needs in internal/server and adapt it in app")
		}
		if !slices.Contains(p.imports, "html/template") || !slices.Contains(p.imports, "embed") {
			t.Errorf("internal/server does not import html/template and embed: is the console still there? (imports %v)", p.imports)
		}
	}
	if !found {
		t.Error("no package internal/server: the check cannot hold")
	}
}
