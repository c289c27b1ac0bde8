package config

import (
	"slices"
	"strings"
	"testing"
)

// accountsBase has one repository and one source of each kind an account
// can belong to.
const accountsBase = `
contract: {id: C1, customer: City, service: Svc, end_date: 2099-01-01}
repositories:
  - name: s3repo
    s3: {endpoint: "127.0.0.1:9000", bucket: backups, region: ap-northeast-1, access_key: env:RA, secret_key: env:RS}
  - name: localrepo
    local: {path: /tmp/r1}
sources:
  - name: files
    path: {path: /tmp/s1}
  - name: db
    postgres: {host: db.internal, port: 5433, database: cases, user: ro, password: env:PW, sslmode: require}
  - name: bucket
    s3: {endpoint: "127.0.0.1:9000", bucket: attachments, access_key: env:BA, secret_key: env:BS}
jobs:
  - {name: j1, sources: [files, db, bucket], repository: s3repo, replicas: [localrepo]}
`

const (
	goodS3Admin = `{provider: versitygw, endpoint: "http://127.0.0.1:7070", access_key: env:AA, secret_key: file:/etc/aa}`
	goodPGAdmin = `{user: postgres, password: env:SUPER}`
)

func TestAccountsValid(t *testing.T) {
	cfg, err := Parse([]byte(accountsBase+`
accounts:
  - {name: writer, kind: s3_access_key, target: s3repo, id: WRITER1, admin: `+goodS3Admin+`}
  - {name: reader, kind: s3_access_key, target: bucket, id: READER1, admin: {provider: versitygw, endpoint: "https://admin.example.jp:7070", region: ap-northeast-3, access_key: env:AA, secret_key: env:AS}}
  - {name: role, kind: postgres_role, target: db, id: app_owner, admin: `+goodPGAdmin+`}
  - {name: escrow, kind: restic_key, target: s3repo, id: 4f1c2a9e}
erase: {cooling_off: 30s, allow_governance_bypass: true}
`), t.TempDir(), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if a := cfg.Accounts[0].S3Admin(); a == nil || a.Region != "ap-northeast-1" || a.Provider != "versitygw" {
		t.Errorf("s3 admin region defaults to the target's: %+v", a)
	}
	if a := cfg.Accounts[1].S3Admin(); a.Region != "ap-northeast-3" {
		t.Errorf("a region given is kept: %+v", a)
	}
	if cfg.Accounts[0].PostgresAdmin() != nil || cfg.Accounts[2].S3Admin() != nil {
		t.Error("an account's admin accessor of the other kind is not nil")
	}
	pg := cfg.Accounts[2].PostgresAdmin()
	if pg == nil || pg.Host != "db.internal" || pg.Port != 5433 || pg.SSLMode != "require" || pg.Database != "postgres" || pg.User != "postgres" || pg.Password != "env:SUPER" {
		t.Errorf("postgres admin takes the target's server and database postgres: %+v", pg)
	}
	if cfg.Erase.CoolingOff.D().Seconds() != 30 || !cfg.Erase.AllowGovernanceBypass {
		t.Errorf("erase: %+v", cfg.Erase)
	}
	// Every new secret reference is listed, so that `config check` and
	// --without-secrets see them.
	var paths []string
	for _, fs := range cfg.SecretRefs() {
		paths = append(paths, fs.Path)
	}
	for _, want := range []string{"accounts[0].admin.access_key", "accounts[0].admin.secret_key", "accounts[1].admin.secret_key", "accounts[2].admin.password"} {
		if !slices.Contains(paths, want) {
			t.Errorf("SecretRefs lacks %s: %v", want, paths)
		}
	}
}

// TestAccountProblems: each account Steward could not revoke is refused
// at its field, and the message (frag) says what to do.
func TestAccountProblems(t *testing.T) {
	tests := []struct {
		name, accounts, path, frag string
	}{
		{"os_user", `{name: a, kind: os_user, target: files, id: backup}`, "accounts[0].kind", "remove it from accounts and delete the user by hand"},
		{"unknown kind", `{name: a, kind: ftp, target: files, id: x}`, "accounts[0].kind", "s3_access_key, postgres_role, restic_key"},
		{"empty id", `{name: a, kind: s3_access_key, target: s3repo, admin: ` + goodS3Admin + `}`, "accounts[0].id", "access key id"},
		{"blank role id", `{name: a, kind: postgres_role, target: db, id: " ", admin: ` + goodPGAdmin + `}`, "accounts[0].id", "role name"},
		{"no target", `{name: a, kind: restic_key, id: k}`, "accounts[0].target", "name the repository or source"},
		{"unknown target", `{name: a, kind: restic_key, target: nowhere, id: k}`, "accounts[0].target", `"nowhere" is neither a repository nor a source`},
		{"s3 key on a local repository", `{name: a, kind: s3_access_key, target: localrepo, id: K, admin: ` + goodS3Admin + `}`, "accounts[0].target", "not on S3"},
		{"role on an s3 source", `{name: a, kind: postgres_role, target: bucket, id: r, admin: ` + goodPGAdmin + `}`, "accounts[0].target", "not a postgres source"},
		{"restic key on a source", `{name: a, kind: restic_key, target: files, id: k}`, "accounts[0].target", "not a repository"},
		{"duplicate name", `{name: a, kind: restic_key, target: s3repo, id: k1}, {name: a, kind: restic_key, target: s3repo, id: k2}`, "accounts[1].name", "twice"},
		{"bad name", `{name: A B, kind: restic_key, target: s3repo, id: k1}`, "accounts[0].name", "lower-case"},
		{"s3 key without admin", `{name: a, kind: s3_access_key, target: s3repo, id: K}`, "accounts[0].admin", "provider: versitygw"},
		{"s3 admin as a secret", `{name: a, kind: s3_access_key, target: s3repo, id: K, admin: env:ADMIN}`, "accounts[0].admin", "section of keys"},
		{"no provider", `{name: a, kind: s3_access_key, target: s3repo, id: K, admin: {endpoint: "http://h:1", access_key: env:A, secret_key: env:B}}`, "accounts[0].admin.provider", "versitygw"},
		{"unknown provider", `{name: a, kind: s3_access_key, target: s3repo, id: K, admin: {provider: minio, endpoint: "http://h:1", access_key: env:A, secret_key: env:B}}`, "accounts[0].admin.provider", "supported providers are versitygw"},
		{"no endpoint", `{name: a, kind: s3_access_key, target: s3repo, id: K, admin: {provider: versitygw, access_key: env:A, secret_key: env:B}}`, "accounts[0].admin.endpoint", "admin API's URL"},
		{"endpoint not a URL", `{name: a, kind: s3_access_key, target: s3repo, id: K, admin: {provider: versitygw, endpoint: "h:7070", access_key: env:A, secret_key: env:B}}`, "accounts[0].admin.endpoint", "http(s)://host:port"},
		{"no region anywhere", `{name: a, kind: s3_access_key, target: bucket, id: K, admin: ` + goodS3Admin + `}`, "accounts[0].admin.region", "signs for"},
		{"no admin secret key", `{name: a, kind: s3_access_key, target: s3repo, id: K, admin: {provider: versitygw, endpoint: "http://h:1", access_key: env:A}}`, "accounts[0].admin.secret_key", "secret reference"},
		{"postgres keys in an s3 admin", `{name: a, kind: s3_access_key, target: s3repo, id: K, admin: {provider: versitygw, endpoint: "http://h:1", access_key: env:A, secret_key: env:B, user: root}}`, "accounts[0].admin.user", "takes provider, endpoint, region, access_key, secret_key"},
		{"role without admin", `{name: a, kind: postgres_role, target: db, id: r}`, "accounts[0].admin", "CREATEROLE and ADMIN OPTION"},
		{"role admin without user", `{name: a, kind: postgres_role, target: db, id: r, admin: {password: env:P}}`, "accounts[0].admin.user", "name the database user"},
		{"role drops itself", `{name: a, kind: postgres_role, target: db, id: r, admin: {user: r, password: env:P}}`, "accounts[0].admin.user", "cannot drop itself"},
		{"s3 keys in a role admin", `{name: a, kind: postgres_role, target: db, id: r, admin: {user: postgres, endpoint: "http://h:1"}}`, "accounts[0].admin.endpoint", "takes host, port, database, user, password, sslmode"},
		{"role admin bad sslmode", `{name: a, kind: postgres_role, target: db, id: r, admin: {user: postgres, sslmode: always}}`, "accounts[0].admin.sslmode", "verify-full"},
		{"restic key with admin", `{name: a, kind: restic_key, target: s3repo, id: k, admin: {user: x}}`, "accounts[0].admin", "crypto-erase deletes it"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ps := problemsOf(t, accountsBase+"accounts: ["+tt.accounts+"]\n")
			if !hasProblem(ps, tt.path, tt.frag) {
				t.Fatalf("want a problem at %s containing %q, got:\n%v", tt.path, tt.frag, ps)
			}
		})
	}
}

func TestEraseCredentials(t *testing.T) {
	cfg, err := Parse([]byte(strings.NewReplacer(
		"sslmode: require}", "sslmode: require}\n    erase: {postgres: {user: owner, password: env:OWNER}}",
		"secret_key: env:RS}", "secret_key: env:RS}\n    erase: {s3: {access_key: env:EA, secret_key: env:ES}}",
	).Replace(accountsBase)), t.TempDir(), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	db, _ := cfg.Source("db")
	pg, from := db.ErasePostgres()
	if from != "erase.postgres" || pg.User != "owner" || pg.Password != "env:OWNER" || pg.Database != "postgres" || pg.Host != "db.internal" || pg.Port != 5433 {
		t.Errorf("erase login: %s %+v", from, pg)
	}
	if db.Postgres.User != "ro" || db.Postgres.Database != "cases" {
		t.Errorf("ErasePostgres changed the source: %+v", db.Postgres)
	}
	repo, _ := cfg.Repository("s3repo")
	if s3, from := repo.EraseS3(); from != "erase.s3" || s3.AccessKey != "env:EA" || s3.SecretKey != "env:ES" || s3.Bucket != "backups" {
		t.Errorf("repository erase keys: %s %+v", from, s3)
	}
	// Without an erase block, the backup credential.
	bucket, _ := cfg.Source("bucket")
	if s3, from := bucket.EraseS3(); from != "s3" || s3.AccessKey != "env:BA" {
		t.Errorf("source without erase keys: %s %+v", from, s3)
	}
	files, _ := cfg.Source("files")
	if pg, _ := files.ErasePostgres(); pg != nil {
		t.Errorf("a path source has an erase login: %+v", pg)
	}
	local, _ := cfg.Repository("localrepo")
	if s3, _ := local.EraseS3(); s3 != nil {
		t.Errorf("a local repository has erase keys: %+v", s3)
	}
	var paths []string
	for _, fs := range cfg.SecretRefs() {
		paths = append(paths, fs.Path)
	}
	for _, want := range []string{"repositories[0].erase.s3.access_key", "repositories[0].erase.s3.secret_key", "sources[1].erase.postgres.password"} {
		if !slices.Contains(paths, want) {
			t.Errorf("SecretRefs lacks %s: %v", want, paths)
		}
	}

	// Without an erase login, the backup one, still on database postgres.
	cfg, err = Parse([]byte(accountsBase), t.TempDir(), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	db, _ = cfg.Source("db")
	if pg, from := db.ErasePostgres(); from != "postgres" || pg.User != "ro" || pg.Database != "postgres" {
		t.Errorf("fallback erase login: %s %+v", from, pg)
	}
}

func TestEraseCredentialProblems(t *testing.T) {
	tests := []struct {
		name, old, new, path, frag string
	}{
		{"erase login on a path source", "path: {path: /tmp/s1}", "path: {path: /tmp/s1}\n    erase: {postgres: {user: o}}", "sources[0].erase.postgres", "only a postgres source"},
		{"erase login without user", "sslmode: require}", "sslmode: require}\n    erase: {postgres: {password: env:P}}", "sources[1].erase.postgres.user", "drops the database"},
		{"erase keys on a postgres source", "sslmode: require}", "sslmode: require}\n    erase: {s3: {access_key: env:A, secret_key: env:B}}", "sources[1].erase.s3", "only an s3 source"},
		{"half an erase key", "secret_key: env:BS}", "secret_key: env:BS}\n    erase: {s3: {access_key: env:A}}", "sources[2].erase.s3.secret_key", "secret reference"},
		{"erase keys on a local repository", "local: {path: /tmp/r1}", "local: {path: /tmp/r1}\n    erase: {s3: {access_key: env:A, secret_key: env:B}}", "repositories[1].erase.s3", "only an s3 repository"},
		{"erase keys inline", "secret_key: env:RS}", "secret_key: env:RS}\n    erase: {s3: {access_key: AKIAXXXX, secret_key: env:B}}", "repositories[0].erase.s3.access_key", "never written inline"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ps := problemsOf(t, strings.Replace(accountsBase, tt.old, tt.new, 1))
			if !hasProblem(ps, tt.path, tt.frag) {
				t.Fatalf("want a problem at %s containing %q, got:\n%v", tt.path, tt.frag, ps)
			}
		})
	}
}

// An account with a wrong target and a wrong admin block gets both
// problems at once.
func TestAccountProblemsAllReported(t *testing.T) {
	ps := problemsOf(t, accountsBase+`accounts:
  - {name: a, kind: s3_access_key, target: localrepo, id: K, admin: {provider: minio, endpoint: "h:1", access_key: env:A, secret_key: env:B}}
`)
	for _, want := range []struct{ path, frag string }{
		{"accounts[0].target", "not on S3"},
		{"accounts[0].admin.provider", "supported providers are versitygw"},
		{"accounts[0].admin.endpoint", "http(s)://host:port"},
	} {
		if !hasProblem(ps, want.path, want.frag) {
			t.Errorf("want a problem at %s containing %q, got:\n%v", want.path, want.frag, ps)
		}
	}
	if len(ps) != 3 {
		t.Errorf("want 3 problems, got %d:\n%v", len(ps), ps)
	}
}
