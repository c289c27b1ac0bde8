package config

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func problemsOf(t *testing.T, yamlText string) Problems {
	t.Helper()
	_, err := Parse([]byte(yamlText), t.TempDir(), "test.yaml")
	if err == nil {
		return nil
	}
	var ps Problems
	if !errors.As(err, &ps) {
		t.Fatalf("error is %T, not Problems: %v", err, err)
	}
	return ps
}

func hasProblem(ps Problems, path, fragment string) bool {
	for _, p := range ps {
		if p.Path == path && strings.Contains(p.Message, fragment) {
			return true
		}
	}
	return false
}

func TestExamplesAreValid(t *testing.T) {
	for _, f := range []string{"minimal.yaml", "full.yaml"} {
		t.Run(f, func(t *testing.T) {
			cfg, err := Load(filepath.Join("..", "..", "examples", f))
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Contract.TimeZone != "Asia/Tokyo" {
				t.Errorf("time zone %q", cfg.Contract.TimeZone)
			}
		})
	}
}

func TestMinimalExampleIsTheEmbeddedDefault(t *testing.T) {
	ex, err := os.ReadFile(filepath.Join("..", "..", "examples", "minimal.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ex, DefaultYAML()) {
		t.Fatal("examples/minimal.yaml differs from internal/config/default.yaml: copy one onto the other")
	}
}

func TestDefaults(t *testing.T) {
	dir := t.TempDir()
	cfg, err := LoadDefault(dir)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.StateDir != filepath.Join(dir, "steward-state") {
		t.Errorf("state dir %q", cfg.StateDir)
	}
	r, ok := cfg.Repository("local")
	if !ok || r.Local.Path != filepath.Join(dir, "steward-state", "repositories", "local") {
		t.Errorf("local repository %+v", r)
	}
	if got := cfg.Residency.AllowedRegions; len(got) != 2 || got[0] != "ap-northeast-1" || got[1] != "ap-northeast-3" {
		t.Errorf("allowed regions %v", got)
	}
	pw := cfg.Operators.Password
	if pw.MinLength != 12 || !*pw.RequireUpper || !*pw.RequireLower || !*pw.RequireDigit || !*pw.RequireSymbol {
		t.Errorf("password policy defaults %+v", pw)
	}
	if l := cfg.Operators.Lockout; l.AfterFailures != 5 || l.Period != 0 {
		t.Errorf("lockout defaults %+v", l)
	}
	if cfg.Drills.RTOTarget.D() != 4*time.Hour || cfg.Erase.CoolingOff.D() != 72*time.Hour {
		t.Errorf("drill/erase defaults %v %v", cfg.Drills.RTOTarget, cfg.Erase.CoolingOff)
	}
}

const base = `
contract: {id: C1, customer: City, service: Svc, end_date: 2099-01-01}
repositories:
  - name: r1
    local: {path: /tmp/r1}
sources:
  - name: s1
    path: {path: /tmp/s1}
jobs:
  - name: j1
    sources: [s1]
    repository: r1
`

func TestThreeMistakesAllReported(t *testing.T) {
	text := `
contract: {id: C1, customer: City, service: Svc, end_date: 2099-01-01}
repositories:
  - name: r1
    local: {path: /tmp/r1}
sources:
  - name: s1
    path: {path: /tmp/s1}
  - name: s2
    s3: {endpoint: "127.0.0.1:9000", access_key: env:A, secret_key: env:B}
jobs:
  - name: j1
    sources: [s1, s9]
    repository: r1
    schedul: "0 2 * * *"
`
	ps := problemsOf(t, text)
	if len(ps) != 3 {
		t.Fatalf("want 3 problems, got %d:\n%v", len(ps), ps)
	}
	for _, want := range []struct{ path, frag string }{
		{"sources[1].s3.bucket", "name the bucket"},
		{"jobs[0].sources[1]", `"s9"`},
		{"jobs[0].schedul", `did you mean "schedule"`},
	} {
		if !hasProblem(ps, want.path, want.frag) {
			t.Errorf("missing %s (%s) in:\n%v", want.path, want.frag, ps)
		}
	}
	for _, p := range ps {
		if p.Line == 0 {
			t.Errorf("no line for %s", p.Path)
		}
	}
}

func TestProblems(t *testing.T) {
	tests := []struct {
		name, text, path, frag string
	}{
		{"unknown key", base + `
  - name: j2
    sources: [s1]
    repository: r1
repositories2: 1
`, "repositories2", "unknown key"},
		{"inline secret", strings.Replace(base, "path: {path: /tmp/s1}", "postgres: {database: d, user: u, password: hunter2}", 1), "sources[0].postgres.password", "never written inline"},
		{"inline S3 key", strings.Replace(base, "path: {path: /tmp/s1}", "s3: {endpoint: e:1, bucket: bkt, access_key: AKIA0000, secret_key: env:B}", 1), "sources[0].s3.access_key", "never written inline"},
		{"inline webhook secret", base + "notify: {webhook: {url: \"https://hooks.example.jp/x\", secret: hunter2}}\n", "notify.webhook.secret", "never written inline"},
		{"bad duration", base + "erase: {cooling_off: soon}\n", "erase.cooling_off", "days"},
		{"bad date", strings.Replace(base, "2099-01-01", "31/03/2099", 1), "contract.end_date", "YYYY-MM-DD"},
		{"bad zone", strings.Replace(base, "end_date: 2099-01-01", "end_date: 2099-01-01, time_zone: Mars/Base", 1), "contract.time_zone", "IANA"},
		{"replica is primary", base + "    replicas: [r1]\n", "jobs[0].replicas[0]", "second location"},
		{"region not allowed", strings.Replace(base, "path: {path: /tmp/s1}", "s3: {endpoint: e:1, bucket: bkt, region: us-east-1, access_key: env:A, secret_key: env:B}", 1), "sources[0].s3.region", "ap-northeast-1, ap-northeast-3"},
		{"duplicate name", strings.Replace(base, "  - name: s1\n", "  - name: r2\n    path: {path: /x}\n  - name: r2\n", 1), "sources[1].name", "twice"},
		{"hook shell line", base + "    hooks: {before: [\"pg_ctl stop && sync\"]}\n", "jobs[0].hooks.before[0]", "without a shell"},
		{"hook relative path", base + "    hooks: {after: [bin/x]}\n", "jobs[0].hooks.after[0]", "absolute path"},
		{"hook empty program", base + "    hooks: {on_failure: [\"\", x]}\n", "jobs[0].hooks.on_failure[0]", "name the program"},
		{"hook unknown key", base + "    hooks: {befor: [x]}\n", "jobs[0].hooks.befor", "before"},
		{"checks cron", base + "checks: {schedule: \"TZ=0\"}\n", "checks.schedule", "contract.time_zone"},
		{"bad cron", base + "    schedule: every night\n", "jobs[0].schedule", "cron"},
		{"object lock past end", strings.Replace(base, "local: {path: /tmp/r1}", "local: {path: /tmp/r1}\n    object_lock: 40000d", 1), "repositories[0].object_lock", "contract end"},
		{"wrong type", base + "drills: {read_data_subsets: many}\n", "drills.read_data_subsets", "whole number"},
		{"list expected", strings.Replace(base, "sources: [s1]", "sources: s1", 1), "jobs[0].sources", "list"},
		{"account kind", base + "accounts: [{name: a, kind: ftp, id: x}]\n", "accounts[0].kind", "s3_access_key"},
		{"missing contract", "state_dir: /tmp/x\n", "contract.id", "contract id"},
		{"webhook without secret", base + "notify: {webhook: {url: \"https://hooks.example.jp/x\"}}\n", "notify.webhook.secret", "give a secret reference"},
		{"bad ping url", base + "notify: {ping_url: \"ftp://hc.example.jp/x\"}\n", "notify.ping_url", "http(s) URL"},
		{"email tls", base + "notify: {email: {smtp: \"smtp.example.jp:587\", from: a, to: [b], tls: maybe}}\n", "notify.email.tls", "mandatory, opportunistic, none"},
		{"email clear text off loopback", base + "notify: {email: {smtp: \"smtp.example.jp:25\", from: a, to: [b], tls: none}}\n", "notify.email.tls", "loopback"},
		{"plain API off loopback", base + "server: {listen: \"0.0.0.0:8420\"}\n", "server.listen", "clear text"},
		{"catalog without password", base + "catalog: {postgres: {host: db.example.jp, database: steward, user: steward}}\n", "catalog.postgres.password", "give the catalog user's password"},
		{"catalog without database", base + "catalog: {postgres: {user: steward, password: env:P}}\n", "catalog.postgres.database", "name the database"},
		{"catalog sslmode", base + "catalog: {postgres: {database: steward, user: steward, password: env:P, sslmode: maybe}}\n", "catalog.postgres.sslmode", "verify-full"},
		{"catalog unknown key", base + "catalog: {sqlite: {path: /x}}\n", "catalog.sqlite", "unknown key"},
		{"session idle too short", base + "server: {session_idle_timeout: 10s}\n", "server.session_idle_timeout", "shorter than a minute"},
		{"session idle past absolute", base + "server: {session_idle_timeout: 2h, session_absolute_timeout: 1h}\n", "server.session_idle_timeout", "longer than server.session_absolute_timeout"},
		{"session absolute too long", base + "server: {session_absolute_timeout: 48h}\n", "server.session_absolute_timeout", "between 1m and 24h"},
		{"short passwords", base + "operators: {password: {min_length: 6}}\n", "operators.password.min_length", "at least 8"},
		{"no lockout", base + "operators: {lockout: {after_failures: -1}}\n", "operators.lockout.after_failures", "1 to 100"},
		{"negative lockout period", base + "operators: {lockout: {period: -5m}}\n", "operators.lockout.period", "duration"},
		{"policy key typo", base + "operators: {password: {require_digits: true}}\n", "operators.password.require_digits", "require_digit"},
		{"bad recovery recipient", base + "recovery: {recipients: [age137ewrn5lgvmqm6gy87m8hr2rsjgwcv20grc9829m4cyla8zeg50sp3xyq9, age1notakey]}\n", "recovery.recipients[1]", "age X25519 recipient"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ps := problemsOf(t, tt.text)
			if !hasProblem(ps, tt.path, tt.frag) {
				t.Fatalf("want problem at %s containing %q, got:\n%v", tt.path, tt.frag, ps)
			}
		})
	}
}

func TestBaseIsValid(t *testing.T) {
	if ps := problemsOf(t, base); ps != nil {
		t.Fatal(ps)
	}
}

// TestProblemsNeverEchoSecrets: a secret written where it must not be
// (inline, under a misspelt key, as a list or a section) is reported at
// its field, and no problem shows its value.
func TestProblemsNeverEchoSecrets(t *testing.T) {
	const secret = "S3cr3t-Value"
	src := func(block string) string { return strings.Replace(base, "path: {path: /tmp/s1}", block, 1) }
	tests := []struct {
		name, text, path, frag string
	}{
		{"postgres password inline", src("postgres: {database: d, user: u, password: " + secret + "}"), "sources[0].postgres.password", "never written inline"},
		{"S3 secret key inline", src("s3: {endpoint: e:1, bucket: bkt, access_key: env:A, secret_key: " + secret + "}"), "sources[0].s3.secret_key", "never written inline"},
		{"restore password inline", src("postgres: {database: d, user: u}\n    restore: {postgres: {user: r, password: " + secret + "}}"), "sources[0].restore.postgres.password", "never written inline"},
		{"email password inline", base + "notify: {email: {smtp: \"smtp.example.jp:587\", from: a, to: [b], password: " + secret + "}}\n", "notify.email.password", "never written inline"},
		{"account admin inline", src("s3: {endpoint: e:1, bucket: bkt, region: ap-northeast-1, access_key: env:A, secret_key: env:B}") + "accounts: [{name: a, kind: s3_access_key, target: s1, id: x, admin: {provider: versitygw, endpoint: \"http://e:2\", access_key: env:A, secret_key: " + secret + "}}]\n", "accounts[0].admin.secret_key", "never written inline"},
		{"role admin password inline", src("postgres: {database: d, user: u}") + "accounts: [{name: a, kind: postgres_role, target: s1, id: r, admin: {user: postgres, password: " + secret + "}}]\n", "accounts[0].admin.password", "never written inline"},
		{"erase password inline", src("postgres: {database: d, user: u}\n    erase: {postgres: {user: o, password: " + secret + "}}"), "sources[0].erase.postgres.password", "never written inline"},
		{"erase S3 key inline", src("s3: {endpoint: e:1, bucket: bkt, access_key: env:A, secret_key: env:B}\n    erase: {s3: {access_key: env:C, secret_key: " + secret + "}}"), "sources[0].erase.s3.secret_key", "never written inline"},
		{"catalog password inline", base + "catalog: {postgres: {database: d, user: u, password: " + secret + "}}\n", "catalog.postgres.password", "never written inline"},
		{"under a misspelt key", src("postgres: {database: d, user: u, passwrd: " + secret + "}"), "sources[0].postgres.passwrd", `did you mean "password"?`},
		{"as a list", src("postgres: {database: d, user: u, password: [" + secret + "]}"), "sources[0].postgres.password", "not a list"},
		{"as a section", src("postgres: {database: d, user: u, password: {" + secret + ": 1}}"), "sources[0].postgres.password", "not a section"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ps := problemsOf(t, tt.text)
			if !hasProblem(ps, tt.path, tt.frag) {
				t.Fatalf("want a problem at %s containing %q, got:\n%v", tt.path, tt.frag, ps)
			}
			if strings.Contains(ps.Error(), secret) {
				t.Fatalf("problem text shows the secret: %v", ps)
			}
		})
	}
}

// TestRetentionAndLockStopAtContractEnd: a keep_within or an object lock
// that would keep data past the contract's end is refused at its field;
// one that ends on or before it is accepted.
func TestRetentionAndLockStopAtContractEnd(t *testing.T) {
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	// base's contract ends with 2099-01-01, Tokyo time: 31 days after now.
	defer func(f func() time.Time) { now = f }(now)
	now = func() time.Time { return time.Date(2098, 12, 2, 0, 0, 0, 0, tokyo) }
	keepWithin := func(d string) string { return base + "    retention: {keep_within: " + d + "}\n" }
	objectLock := func(d string) string {
		return strings.Replace(base, "local: {path: /tmp/r1}", "local: {path: /tmp/r1}\n    object_lock: "+d, 1)
	}
	tests := []struct {
		name, text, path string
		// refused: the problem's message must hold frag.
		refused bool
		frag    string
	}{
		{"keep_within ends a day before", keepWithin("30d"), "jobs[0].retention.keep_within", false, ""},
		{"keep_within ends at the end", keepWithin("31d"), "jobs[0].retention.keep_within", false, ""},
		{"keep_within reaches past the end", keepWithin("32d"), "jobs[0].retention.keep_within", true, "past the contract end (2099-01-01)"},
		{"keep_within an hour past the end", keepWithin("745h"), "jobs[0].retention.keep_within", true, "past the contract end"},
		{"object_lock ends a day before", objectLock("30d"), "repositories[0].object_lock", false, ""},
		{"object_lock reaches past the end", objectLock("32d"), "repositories[0].object_lock", true, "shorten it to at most 31d"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse([]byte(tt.text), t.TempDir(), "test.yaml")
			if !tt.refused {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if r := cfg.Jobs[0].Retention.KeepWithin.D() + cfg.Repositories[0].ObjectLock.D(); r < 30*24*time.Hour {
					t.Fatalf("the period was not kept: keep_within %v, object_lock %v", cfg.Jobs[0].Retention.KeepWithin, cfg.Repositories[0].ObjectLock)
				}
				return
			}
			ps := problemsOf(t, tt.text)
			if len(ps) != 1 || !hasProblem(ps, tt.path, tt.frag) {
				t.Fatalf("want exactly one problem, at %s containing %q; got %d:\n%v", tt.path, tt.frag, len(ps), ps)
			}
		})
	}
}

func TestDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{"7d": 7 * 24 * time.Hour, "36h": 36 * time.Hour, "1.5d": 36 * time.Hour, "90m": 90 * time.Minute} {
		d, err := ParseDuration(in)
		if err != nil || d.D() != want {
			t.Errorf("ParseDuration(%q) = %v, %v", in, d, err)
		}
	}
	if _, err := ParseDuration("-1d"); err == nil {
		t.Error("negative duration accepted")
	}
}

func TestSecretRefString(t *testing.T) {
	if got := SecretRef("sealed:v1:abcdef").String(); strings.Contains(got, "abcdef") {
		t.Errorf("sealed ref shown: %s", got)
	}
	if got := SecretRef("hunter2").String(); got != "[redacted]" {
		t.Errorf("inline secret shown: %s", got)
	}
}

// TestOneProblemReportedOnce: a value that does not decode (or a misspelt
// key) is reported where it is, once: validation does not report the
// field again as missing, nor the fields under it. A field that is
// really missing is still reported, and so is every problem of a key
// that is present beside a misspelt copy of it.
func TestOneProblemReportedOnce(t *testing.T) {
	tests := []struct {
		name, text, path, frag string
	}{
		{"date not YYYY-MM-DD", strings.Replace(base, "2099-01-01", "31/03/2099", 1), "contract.end_date", "YYYY-MM-DD"},
		{"no such day", strings.Replace(base, "2099-01-01", "2099-02-30", 1), "contract.end_date", "2099-02-30"},
		{"date is a section", strings.Replace(base, "2099-01-01", "{year: 2099}", 1), "contract.end_date", "single value"},
		{"misspelt key", strings.Replace(base, "end_date:", "end_dat:", 1), "contract.end_dat", `did you mean "end_date"?`},
		{"contract is a list", strings.Replace(base, "contract: {id: C1, customer: City, service: Svc, end_date: 2099-01-01}", "contract: [C1]", 1), "contract", "section of keys"},
		{"sources is one value", strings.Replace(base, "sources: [s1]", "sources: s1", 1), "jobs[0].sources", "list"},
		{"misspelt sources", strings.Replace(base, "    sources: [s1]", "    source: [s1]", 1), "jobs[0].source", `did you mean "sources"?`},
		{"missing end_date", strings.Replace(base, ", end_date: 2099-01-01", "", 1), "contract.end_date", "give the contract's last day"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ps := problemsOf(t, tt.text)
			if len(ps) != 1 || !hasProblem(ps, tt.path, tt.frag) {
				t.Fatalf("want exactly one problem, at %s containing %q; got %d:\n%v", tt.path, tt.frag, len(ps), ps)
			}
		})
	}
	// A misspelt key whose intended key is present as well hides no
	// problem of the intended one.
	text := strings.Replace(base, "local: {path: /tmp/r1}", "object_lock: 1d", 1) + "repositoriez: 1\n"
	ps := problemsOf(t, text)
	if len(ps) != 2 || !hasProblem(ps, "repositoriez", `did you mean "repositories"?`) || !hasProblem(ps, "repositories[0]", "give the repository a location") {
		t.Fatalf("want the misspelt key and the repository without a location, got:\n%v", ps)
	}
}

// A catalog section gets PostgreSQL's defaults and its password is a
// secret reference like any other.
func TestCatalogPostgres(t *testing.T) {
	cfg, err := Parse([]byte(base+"catalog: {postgres: {host: db.example.jp, database: steward, user: steward, password: env:STEWARD_CATALOG_PW}}\n"), t.TempDir(), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	pg := cfg.Catalog.Postgres
	if pg == nil || pg.Port != 5432 || pg.SSLMode != "prefer" || pg.Host != "db.example.jp" {
		t.Fatalf("catalog.postgres = %+v, want port 5432 and sslmode prefer by default", pg)
	}
	found := false
	for _, fs := range cfg.SecretRefs() {
		found = found || fs.Path == "catalog.postgres.password"
	}
	if !found {
		t.Fatalf("SecretRefs lacks catalog.postgres.password: %v", cfg.SecretRefs())
	}
	cfg, err = Parse([]byte(base), t.TempDir(), "test.yaml")
	if err != nil || cfg.Catalog.Postgres != nil {
		t.Fatalf("no catalog section: %+v, %v; want SQLite (nil)", cfg.Catalog, err)
	}
}
