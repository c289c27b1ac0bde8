package config

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Config is the whole config file. Every section is validated, even those
// whose behaviour a later release adds.
type Config struct {
	Contract     Contract     `yaml:"contract"`
	StateDir     string       `yaml:"state_dir"`
	Residency    Residency    `yaml:"residency"`
	Restic       Restic       `yaml:"restic"`
	Repositories []Repository `yaml:"repositories"`
	Sources      []Source     `yaml:"sources"`
	Jobs         []Job        `yaml:"jobs"`
	Drills       Drills       `yaml:"drills"`
	Checks       Checks       `yaml:"checks"`
	Accounts     []Account    `yaml:"accounts"`
	Erase        Erase        `yaml:"erase"`
	Signing      Signing      `yaml:"signing"`
	Recovery     Recovery     `yaml:"recovery"`
	Server       Server       `yaml:"server"`
	Notify       Notify       `yaml:"notify"`
	Operators    Operators    `yaml:"operators"`
	// Catalog says where the catalog is (absent: SQLite in the state dir).
	Catalog Catalog `yaml:"catalog"`

	// path is the file the config was read from; relative paths in the
	// file are relative to its folder.
	path string
}

// Contract describes the one contract whose data Steward keeps.
type Contract struct {
	ID       string `yaml:"id"`
	Customer string `yaml:"customer"`
	Service  string `yaml:"service"`
	// EndDate is the contract's last day; nothing may be kept past it.
	EndDate Date `yaml:"end_date"`
	// TimeZone is the IANA zone of every time Steward writes (req 15).
	TimeZone string `yaml:"time_zone"`
}

// Residency lists where data may be stored (req 2).
type Residency struct {
	AllowedRegions []string `yaml:"allowed_regions"`
}

// Restic says where the restic binary is and how long one call may take.
type Restic struct {
	Path    string   `yaml:"path"`
	Timeout Duration `yaml:"timeout"`
	// StallTimeout stops a backup whose progress has stopped for this
	// long (a storage that no longer answers), naming the repository, and
	// any restic call (restore, check, copy, forget, key add, erase's
	// calls) whose process has shown no sign of life for this long (no
	// output, no CPU time or I/O, or stopped), or that has been retrying
	// a failing storage for this long without a success.
	StallTimeout Duration `yaml:"stall_timeout"`
}

// Repository is a restic repository: exactly one of Local or S3.
type Repository struct {
	Name  string     `yaml:"name"`
	Local *LocalRepo `yaml:"local"`
	S3    *S3Target  `yaml:"s3"`
	// ObjectLock is an S3 object-lock retention period, checked against
	// the contract end date.
	ObjectLock Duration `yaml:"object_lock"`
	// Erase names the credential erase uses where it differs from the
	// backup one (see EraseS3).
	Erase *RepositoryErase `yaml:"erase"`
}

// LocalRepo is a repository on a local or mounted path.
type LocalRepo struct {
	Path string `yaml:"path"`
}

// S3Target is a bucket (and prefix) on an S3-compatible endpoint.
type S3Target struct {
	Endpoint string `yaml:"endpoint"`
	Bucket   string `yaml:"bucket"`
	Prefix   string `yaml:"prefix"`
	Region   string `yaml:"region"`
	// Insecure uses plain HTTP (test servers on loopback only).
	Insecure  bool      `yaml:"insecure"`
	AccessKey SecretRef `yaml:"access_key"`
	SecretKey SecretRef `yaml:"secret_key"`
}

// Source is something to back up: exactly one of Path, Postgres or S3.
type Source struct {
	Name     string          `yaml:"name"`
	Path     *PathSource     `yaml:"path"`
	Postgres *PostgresSource `yaml:"postgres"`
	S3       *S3Target       `yaml:"s3"`
	// Restore names the credential restores of this source use where it
	// differs from the backup one (a read-only backup role cannot create
	// the database a restore goes into).
	Restore *SourceRestore `yaml:"restore"`
	// Erase names the credential erase uses where it differs from the
	// backup one (a read-only backup role cannot drop its database).
	Erase *SourceErase `yaml:"erase"`
}

// SourceErase says who erases a source at contract end.
type SourceErase struct {
	// Postgres is a login on the source's server that may drop the
	// database (its owner or a superuser); Database is where it connects
	// to do so (default postgres: a session cannot drop its own
	// database).
	Postgres *PostgresLogin `yaml:"postgres"`
	// S3 are keys that may delete every object version and the bucket.
	S3 *S3Keys `yaml:"s3"`
}

// RepositoryErase says who erases an S3 repository at contract end.
type RepositoryErase struct {
	// S3 are keys that may delete every object version and the bucket.
	S3 *S3Keys `yaml:"s3"`
}

// S3Keys is another access key for a configured bucket.
type S3Keys struct {
	AccessKey SecretRef `yaml:"access_key"`
	SecretKey SecretRef `yaml:"secret_key"`
}

// SourceRestore says who restores a source.
type SourceRestore struct {
	// Postgres is a login on the source's server that may create
	// databases (CREATEDB): restores into a new database create and load
	// it as this role.
	Postgres *PostgresLogin `yaml:"postgres"`
}

// PostgresLogin is another login on a configured PostgreSQL server.
type PostgresLogin struct {
	User     string    `yaml:"user"`
	Password SecretRef `yaml:"password"`
	// Database is where to connect to create the target database
	// (default: postgres).
	Database string `yaml:"database"`
}

// PathSource is a directory tree.
type PathSource struct {
	Path     string   `yaml:"path"`
	Excludes []string `yaml:"excludes"`
}

// PostgresSource is one PostgreSQL database.
type PostgresSource struct {
	Host     string    `yaml:"host"`
	Port     int       `yaml:"port"`
	Database string    `yaml:"database"`
	User     string    `yaml:"user"`
	Password SecretRef `yaml:"password"`
	SSLMode  string    `yaml:"sslmode"`
}

// Job backs up sources into a primary repository and copies each new
// snapshot to the replicas (req 18).
type Job struct {
	Name       string    `yaml:"name"`
	Sources    []string  `yaml:"sources"`
	Repository string    `yaml:"repository"`
	Replicas   []string  `yaml:"replicas"`
	Schedule   string    `yaml:"schedule"`
	Retention  Retention `yaml:"retention"`
	// Hooks are commands run around each run of the job (steward backup
	// run and the daemon alike).
	Hooks Hooks `yaml:"hooks"`
}

// Hooks are commands run around a job's run: each one an argv, run
// without a shell, with an environment that holds no secret.
type Hooks struct {
	// Before runs before restic reads any source (quiesce an application,
	// snapshot a filesystem); if it fails, the run fails and nothing is
	// backed up.
	Before []string `yaml:"before"`
	// After runs when the run succeeded; OnFailure when it failed.
	After     []string `yaml:"after"`
	OnFailure []string `yaml:"on_failure"`
	// Timeout bounds each hook (default 5m).
	Timeout Duration `yaml:"timeout"`
}

// Checks schedules repository checks (restic check --read-data-subset)
// of every repository.
type Checks struct {
	// Schedule is when the daemon checks every repository ("" means on
	// drills.schedule).
	Schedule string `yaml:"schedule"`
}

// Retention is restic's keep policy for a job.
type Retention struct {
	KeepLast    int      `yaml:"keep_last"`
	KeepDaily   int      `yaml:"keep_daily"`
	KeepWeekly  int      `yaml:"keep_weekly"`
	KeepMonthly int      `yaml:"keep_monthly"`
	KeepYearly  int      `yaml:"keep_yearly"`
	KeepWithin  Duration `yaml:"keep_within"`
}

// Drills configures restore drills (req 22).
type Drills struct {
	Schedule string `yaml:"schedule"`
	// Snapshot is "latest" or "random".
	Snapshot string `yaml:"snapshot"`
	// RandomWindow bounds the age of a randomly chosen snapshot.
	RandomWindow Duration `yaml:"random_window"`
	// ReadDataSubsets is N in `restic check --read-data-subset k/N`.
	ReadDataSubsets int          `yaml:"read_data_subsets"`
	RTOTarget       Duration     `yaml:"rto_target"`
	RPOTarget       Duration     `yaml:"rpo_target"`
	Scratch         DrillScratch `yaml:"scratch"`
	// Jobs limits scheduled drills to these jobs (all jobs when empty).
	Jobs []string `yaml:"jobs"`
}

// DrillScratch names where drills may restore to.
type DrillScratch struct {
	Dir      string          `yaml:"dir"`
	Postgres *PostgresSource `yaml:"postgres"`
	S3       *S3Target       `yaml:"s3"`
}

// Account is a special account to revoke at contract end (req 27).
type Account struct {
	Name string `yaml:"name"`
	// Kind is one of AccountKinds.
	Kind string `yaml:"kind"`
	// Target names the repository or source the account belongs to: an
	// s3_access_key's S3 repository or source (its endpoint is where the
	// revoked key is tried), a postgres_role's postgres source, a
	// restic_key's repository.
	Target string `yaml:"target"`
	// ID is the access key id (s3_access_key), the role name
	// (postgres_role) or the restic key id (restic_key).
	ID string `yaml:"id"`
	// Admin is who revokes the account: for s3_access_key the S3
	// service's user-administration API, for postgres_role a login that
	// may drop the role. restic_key takes none: crypto-erase deletes the
	// key with the repository's other key files.
	Admin *AccountAdmin `yaml:"admin"`
}

// AccountAdmin is the admin block of an account. Its keys depend on the
// account's kind; validation refuses a key the kind does not use.
type AccountAdmin struct {
	// s3_access_key: the S3 service's admin API.

	// Provider is one of S3AdminProviders: how the service's users are
	// administered.
	Provider string `yaml:"provider"`
	// Endpoint is the admin API's URL, http(s)://host:port (versitygw
	// serves it on its --admin-port).
	Endpoint string `yaml:"endpoint"`
	// Region is the region the service signs for (default: the target's
	// s3.region).
	Region    string    `yaml:"region"`
	AccessKey SecretRef `yaml:"access_key"`
	SecretKey SecretRef `yaml:"secret_key"`

	// postgres_role: a superuser, or a role with CREATEROLE and ADMIN
	// OPTION on the role to drop, on the target source's server. Host,
	// port and sslmode default to the target source's; database to
	// "postgres".

	Host     string    `yaml:"host"`
	Port     int       `yaml:"port"`
	Database string    `yaml:"database"`
	User     string    `yaml:"user"`
	Password SecretRef `yaml:"password"`
	SSLMode  string    `yaml:"sslmode"`
}

// Account kinds.
const (
	AccountS3AccessKey  = "s3_access_key"
	AccountPostgresRole = "postgres_role"
	AccountResticKey    = "restic_key"
)

// AccountKinds are the special-account kinds Steward can revoke.
var AccountKinds = []string{AccountS3AccessKey, AccountPostgresRole, AccountResticKey}

// S3AdminProviders are the S3 services whose user access keys Steward can
// delete (accounts[].admin.provider); objstore.NewKeyAdmin implements
// each.
var S3AdminProviders = []string{"versitygw"}

// unrevocable are account kinds Steward knows of but cannot revoke, with
// what the operator should do instead.
var unrevocable = map[string]string{
	"os_user": "remove it from accounts and delete the user by hand at contract end (e.g. with userdel), keeping your own record: the deletion certificate lists only what Steward revoked and verified",
}

// S3Admin is an s3_access_key account's admin API block, nil for other
// kinds or when absent.
func (a *Account) S3Admin() *AccountAdmin {
	if a.Kind != AccountS3AccessKey {
		return nil
	}
	return a.Admin
}

// PostgresAdmin is the login that drops a postgres_role account, with
// defaults applied (database "postgres", the target source's host, port
// and sslmode); nil for other kinds or when absent.
func (a *Account) PostgresAdmin() *PostgresSource {
	if a.Kind != AccountPostgresRole || a.Admin == nil {
		return nil
	}
	ad := a.Admin
	return &PostgresSource{Host: ad.Host, Port: ad.Port, Database: ad.Database, User: ad.User, Password: ad.Password, SSLMode: ad.SSLMode}
}

// Erase configures contract-end erasure.
type Erase struct {
	// CoolingOff is the wait between approval and execution (default
	// 72h). Any positive duration is valid; config check warns below
	// 24h (tests use seconds).
	CoolingOff Duration `yaml:"cooling_off"`
	// Approvers may approve an erase plan (second person, req 12).
	Approvers []string `yaml:"approvers"`
	// AllowGovernanceBypass lets erase delete objects under a governance
	// retention (x-amz-bypass-governance-retention), recording it as
	// such. Compliance retention can never be bypassed.
	AllowGovernanceBypass bool `yaml:"allow_governance_bypass"`
}

// Signing holds the certificate and key that sign reports.
type Signing struct {
	Certificate  string        `yaml:"certificate"`
	Key          string        `yaml:"key"`
	TSAURL       string        `yaml:"tsa_url"`
	Organisation string        `yaml:"organisation"`
	Signer       string        `yaml:"signer"`
	Location     string        `yaml:"location"`
	Font         string        `yaml:"font"`
	Attestations []Attestation `yaml:"attestations"`
}

// Attestation is a provider's device-disposal attestation or a third-party
// audit report (req 24, 25) listed on the deletion certificate.
type Attestation struct {
	Title     string `yaml:"title"`
	Issuer    string `yaml:"issuer"`
	Date      Date   `yaml:"date"`
	Reference string `yaml:"reference"`
}

// Recovery configures the recovery kit: the escrow key of every
// repository, written encrypted to age recipients, so that the
// repositories open without this host (see docs/runbook-restore.md).
type Recovery struct {
	// Recipients are the age X25519 public keys ("age1…") the kit is
	// encrypted to; any one of their identities decrypts it.
	Recipients []string `yaml:"recipients"`
	// KitLocation says, in free text, where the kit is kept (printed on
	// the recovery sheet).
	KitLocation string `yaml:"kit_location"`
}

// Server is the daemon's HTTP listener.
type Server struct {
	Listen  string `yaml:"listen"`
	TLSCert string `yaml:"tls_cert"`
	TLSKey  string `yaml:"tls_key"`
	// SessionIdleTimeout ends a console session this long after its last
	// request (default 15m).
	SessionIdleTimeout Duration `yaml:"session_idle_timeout"`
	// SessionAbsoluteTimeout ends a console session this long after its
	// login, however busy (default 8h).
	SessionAbsoluteTimeout Duration `yaml:"session_absolute_timeout"`
}

// Catalog is where Steward keeps its state (runs, snapshots, manifests,
// drills, erase plans, the audit log). Without Postgres it is SQLite in
// the state dir; with it, a PostgreSQL database that several daemons
// share (req 18). The master key, signing key and sealed passwords stay
// in each state dir either way.
type Catalog struct {
	Postgres *PostgresSource `yaml:"postgres"`
}

// Notify sends alerts.
type Notify struct {
	Webhook *Webhook `yaml:"webhook"`
	Email   *Email   `yaml:"email"`
	// PingURL is a healthchecks-style check: each run pings <url>/start,
	// then <url> on success or <url>/fail on failure. "{job}" in it is
	// replaced by the job's name (one check per job).
	PingURL string `yaml:"ping_url"`
}

// Webhook posts alerts as JSON, signed with HMAC-SHA256 of Secret.
type Webhook struct {
	URL    string    `yaml:"url"`
	Secret SecretRef `yaml:"secret"`
}

// Email sends alerts by SMTP.
type Email struct {
	SMTP     string    `yaml:"smtp"`
	From     string    `yaml:"from"`
	To       []string  `yaml:"to"`
	User     string    `yaml:"user"`
	Password SecretRef `yaml:"password"`
	// TLS is one of EmailTLSModes (default mandatory: STARTTLS or no
	// mail). none is accepted only for an SMTP server on loopback.
	TLS string `yaml:"tls"`
}

// E-mail TLS modes.
const (
	EmailTLSMandatory     = "mandatory"
	EmailTLSOpportunistic = "opportunistic"
	EmailTLSNone          = "none"
)

// EmailTLSModes are the values of notify.email.tls.
var EmailTLSModes = []string{EmailTLSMandatory, EmailTLSOpportunistic, EmailTLSNone}

// Operators configures operator accounts: the password policy (req 19)
// and the lockout after failed logins (req 20).
type Operators struct {
	Password PasswordPolicy `yaml:"password"`
	Lockout  Lockout        `yaml:"lockout"`
}

// PasswordPolicy is what a new password must have. The Require* fields
// default to true (nil before defaults apply).
type PasswordPolicy struct {
	// MinLength is the fewest characters (default 12, at least 8).
	MinLength     int   `yaml:"min_length"`
	RequireUpper  *bool `yaml:"require_upper"`
	RequireLower  *bool `yaml:"require_lower"`
	RequireDigit  *bool `yaml:"require_digit"`
	RequireSymbol *bool `yaml:"require_symbol"`
}

// Lockout locks an account after consecutive failed logins.
type Lockout struct {
	// AfterFailures is how many (default 5, 1 to 100).
	AfterFailures int `yaml:"after_failures"`
	// Period is how long the lockout lasts; 0 (the default) means until
	// an admin unlocks the account.
	Period Duration `yaml:"period"`
}

// Path is the file the config was loaded from ("" for an embedded default).
func (c *Config) Path() string { return c.path }

// Repository finds a repository by name.
func (c *Config) Repository(name string) (*Repository, bool) {
	for i := range c.Repositories {
		if c.Repositories[i].Name == name {
			return &c.Repositories[i], true
		}
	}
	return nil, false
}

// Source finds a source by name.
func (c *Config) Source(name string) (*Source, bool) {
	for i := range c.Sources {
		if c.Sources[i].Name == name {
			return &c.Sources[i], true
		}
	}
	return nil, false
}

// Job finds a job by name.
func (c *Config) Job(name string) (*Job, bool) {
	for i := range c.Jobs {
		if c.Jobs[i].Name == name {
			return &c.Jobs[i], true
		}
	}
	return nil, false
}

// ErrContractEnded means the contract's end date has passed: its data is
// to be erased, not backed up or drilled any more (req 23).
var ErrContractEnded = errors.New("the contract has ended")

// CheckActive refuses work on a contract whose end date (the whole last
// day, in loc) is before now; what names the work ("backups", "drills").
func (c *Config) CheckActive(now time.Time, loc *time.Location, what string) error {
	if c.Contract.EndDate.IsZero() || now.Before(c.Contract.EndDate.End(loc)) {
		return nil
	}
	return fmt.Errorf("%w: contract %s ended on %s, so %s stop: its data, every backup and every replica are to be erased and the deletion certified (req 23); see docs/requirements.md",
		ErrContractEnded, c.Contract.ID, c.Contract.EndDate, what)
}

// ErrNoJob means the config has no job of that name.
var ErrNoJob = errors.New("no such job")

// FindJob finds the job to work on: name, or the only job when name is ""
// and the config has exactly one. The error wraps ErrNoJob and says what
// to give.
func (c *Config) FindJob(name string) (*Job, error) {
	if name == "" {
		if len(c.Jobs) == 1 {
			return &c.Jobs[0], nil
		}
		names := make([]string, 0, len(c.Jobs))
		for _, j := range c.Jobs {
			names = append(names, j.Name)
		}
		return nil, fmt.Errorf("%w: name one with --job (jobs: %s)", ErrNoJob, strings.Join(names, ", "))
	}
	j, ok := c.Job(name)
	if !ok {
		return nil, fmt.Errorf("%w %q: see jobs in the config", ErrNoJob, name)
	}
	return j, nil
}

// Kind is "local" or "s3".
func (r *Repository) Kind() string {
	if r.S3 != nil {
		return "s3"
	}
	return "local"
}

// Kind is "path", "postgres" or "s3".
func (s *Source) Kind() string {
	switch {
	case s.Postgres != nil:
		return "postgres"
	case s.S3 != nil:
		return "s3"
	default:
		return "path"
	}
}
