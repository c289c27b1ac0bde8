package config

import (
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"filippo.io/age"

	"steward/internal/clock"
)

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// now is the time config validation measures periods from.
var now = time.Now

func validate(c *collector, cfg *Config) {
	loc := validateContract(c, cfg)
	if len(cfg.Residency.AllowedRegions) == 0 {
		c.add("residency.allowed_regions", "list at least one region where data may be stored (req 2), e.g. ap-northeast-1")
	}
	for i, r := range cfg.Residency.AllowedRegions {
		if strings.TrimSpace(r) == "" {
			c.add(fmt.Sprintf("residency.allowed_regions[%d]", i), "empty region name: remove it or name a region such as ap-northeast-3")
		}
	}
	var end time.Time
	if loc != nil && !cfg.Contract.EndDate.IsZero() {
		end = cfg.Contract.EndDate.End(loc)
	}

	repos := uniqueNames(c, "repositories", len(cfg.Repositories), func(i int) string { return cfg.Repositories[i].Name })
	for i := range cfg.Repositories {
		r := &cfg.Repositories[i]
		p := fmt.Sprintf("repositories[%d]", i)
		switch {
		case r.Local == nil && r.S3 == nil:
			c.add(p, "give the repository a location: either local: {path: …} or s3: {endpoint: …, bucket: …}")
		case r.Local != nil && r.S3 != nil:
			c.add(p, "a repository is either local or s3, not both: keep one")
		case r.S3 != nil:
			checkS3(c, cfg, p+".s3", r.S3)
		}
		if r.Erase != nil && r.Erase.S3 != nil {
			if r.S3 == nil {
				c.add(p+".erase.s3", "only an s3 repository is erased with S3 keys: remove it")
			} else {
				checkS3Keys(c, p+".erase.s3", r.Erase.S3)
			}
		}
		if r.ObjectLock > 0 && !end.IsZero() && now().Add(r.ObjectLock.D()).After(end) {
			c.add(p+".object_lock", "an object lock of %s would keep data past the contract end (%s), so it could not be deleted at termination (req 23): shorten it to at most %s",
				r.ObjectLock, cfg.Contract.EndDate, Duration(end.Sub(now()).Truncate(24*time.Hour)))
		}
	}

	sources := uniqueNames(c, "sources", len(cfg.Sources), func(i int) string { return cfg.Sources[i].Name })
	for i := range cfg.Sources {
		s := &cfg.Sources[i]
		p := fmt.Sprintf("sources[%d]", i)
		n := 0
		if s.Path != nil {
			n++
			if s.Path.Path == "" {
				c.add(p+".path.path", "name the directory to back up")
			}
		}
		if s.Postgres != nil {
			n++
			checkPostgres(c, p+".postgres", s.Postgres)
		}
		if s.S3 != nil {
			n++
			checkS3(c, cfg, p+".s3", s.S3)
		}
		if r := s.Restore; r != nil && r.Postgres != nil {
			switch {
			case s.Postgres == nil:
				c.add(p+".restore.postgres", "only a postgres source is restored with a PostgreSQL login: remove it")
			case r.Postgres.User == "":
				c.add(p+".restore.postgres.user", "name the role that restores (it needs CREATEDB)")
			}
			checkSecret(c, p+".restore.postgres.password", r.Postgres.Password, false)
		}
		if e := s.Erase; e != nil {
			validateSourceErase(c, p+".erase", s, e)
		}
		switch {
		case n == 0:
			c.add(p, "say what to back up: path: {path: …}, postgres: {database: …} or s3: {bucket: …}")
		case n > 1:
			c.add(p, "a source is one of path, postgres or s3: split it into separate sources")
		}
	}

	uniqueNames(c, "jobs", len(cfg.Jobs), func(i int) string { return cfg.Jobs[i].Name })
	for i := range cfg.Jobs {
		validateJob(c, cfg, fmt.Sprintf("jobs[%d]", i), &cfg.Jobs[i], repos, sources, end)
	}

	validateDrills(c, cfg)
	validateChecks(c, cfg)
	if pg := cfg.Catalog.Postgres; pg != nil {
		checkPostgres(c, "catalog.postgres", pg)
		// Required: the catalog is reached with a password (SCRAM), which
		// is never written into a DSN, argv or a log.
		if pg.Password.IsZero() {
			c.add("catalog.postgres.password", "give the catalog user's password as a secret reference: file:/path, env:VARIABLE or a sealed value")
		}
	}

	validateAccounts(c, cfg, repos, sources)

	for i, a := range cfg.Erase.Approvers {
		if strings.TrimSpace(a) == "" {
			c.add(fmt.Sprintf("erase.approvers[%d]", i), "empty approver: remove it or name an operator")
		}
	}

	validateOperators(c, cfg)

	if u := cfg.Signing.TSAURL; u != "" {
		checkURL(c, "signing.tsa_url", u)
	}
	for i, a := range cfg.Signing.Attestations {
		if a.Title == "" || a.Issuer == "" {
			c.add(fmt.Sprintf("signing.attestations[%d]", i), "give each attestation a title and an issuer")
		}
	}

	for i, r := range cfg.Recovery.Recipients {
		if _, err := age.ParseX25519Recipient(strings.TrimSpace(r)); err != nil {
			c.add(fmt.Sprintf("recovery.recipients[%d]", i), "%q is not an age X25519 recipient (a public key \"age1…\", from age-keygen -y): %v", r, err)
		}
	}

	if _, _, err := net.SplitHostPort(cfg.Server.Listen); err != nil {
		c.add("server.listen", "%q is not host:port, e.g. 127.0.0.1:8420", cfg.Server.Listen)
	}
	if (cfg.Server.TLSCert == "") != (cfg.Server.TLSKey == "") {
		c.add("server", "give both tls_cert and tls_key, or neither")
	}
	if host, _, err := net.SplitHostPort(cfg.Server.Listen); err == nil && cfg.Server.TLSCert == "" && !isLoopback(host) {
		c.add("server.listen", "%q is off loopback without TLS: the API token would cross the network in clear text; set server.tls_cert and server.tls_key, or listen on 127.0.0.1", cfg.Server.Listen)
	}
	checkSessionTimeouts(c, cfg.Server)
	if w := cfg.Notify.Webhook; w != nil {
		checkURL(c, "notify.webhook.url", w.URL)
		checkSecret(c, "notify.webhook.secret", w.Secret, true)
	}
	if u := cfg.Notify.PingURL; u != "" {
		checkURL(c, "notify.ping_url", u)
	}
	if e := cfg.Notify.Email; e != nil {
		host, _, err := net.SplitHostPort(e.SMTP)
		if err != nil {
			c.add("notify.email.smtp", "%q is not host:port, e.g. smtp.example.jp:587", e.SMTP)
		}
		switch {
		case !slices.Contains(EmailTLSModes, e.TLS):
			c.add("notify.email.tls", "%q: use one of %s", e.TLS, strings.Join(EmailTLSModes, ", "))
		case e.TLS == EmailTLSNone && err == nil && !isLoopback(host):
			c.add("notify.email.tls", "none is only for an SMTP server on loopback (tests): %s would carry alerts and the password in clear text; use mandatory", e.SMTP)
		}
		if e.From == "" {
			c.add("notify.email.from", "give the sender address")
		}
		if len(e.To) == 0 {
			c.add("notify.email.to", "list at least one recipient")
		}
		checkSecret(c, "notify.email.password", e.Password, false)
	}
}

func validateContract(c *collector, cfg *Config) *time.Location {
	k := cfg.Contract
	if k.ID == "" {
		c.add("contract.id", "give the contract id; it is printed on every report and certificate")
	}
	if k.Customer == "" {
		c.add("contract.customer", "name the customer (the data owner)")
	}
	if k.Service == "" {
		c.add("contract.service", "name the service whose data Steward keeps")
	}
	if k.EndDate.IsZero() {
		c.add("contract.end_date", "give the contract's last day as YYYY-MM-DD: nothing may be kept past it")
	}
	loc, err := clock.LoadZone(k.TimeZone)
	if err != nil {
		c.add("contract.time_zone", "%v", err)
		return nil
	}
	return loc
}

func validateJob(c *collector, cfg *Config, p string, j *Job, repos, sources map[string]bool, end time.Time) {
	if len(j.Sources) == 0 {
		c.add(p+".sources", "list the sources this job backs up")
	}
	for k, s := range j.Sources {
		if !sources[s] {
			c.add(fmt.Sprintf("%s.sources[%d]", p, k), "no source is named %q: define it under sources", s)
		}
	}
	if j.Repository == "" {
		c.add(p+".repository", "name the primary repository")
	} else if !repos[j.Repository] {
		c.add(p+".repository", "no repository is named %q: define it under repositories", j.Repository)
	}
	seen := map[string]bool{}
	for k, r := range j.Replicas {
		rp := fmt.Sprintf("%s.replicas[%d]", p, k)
		switch {
		case !repos[r]:
			c.add(rp, "no repository is named %q: define it under repositories", r)
		case r == j.Repository:
			c.add(rp, "%q is already the primary repository: a replica must be a second location (req 18)", r)
		case seen[r]:
			c.add(rp, "%q is listed twice", r)
		}
		seen[r] = true
	}
	if j.Schedule != "" {
		if _, err := ParseSchedule(j.Schedule, scheduleZone(cfg), now()); err != nil {
			c.add(p+".schedule", "%v", err)
		}
	}
	validateHooks(c, p+".hooks", j.Hooks)
	rt := j.Retention
	for name, v := range map[string]int{"keep_last": rt.KeepLast, "keep_daily": rt.KeepDaily, "keep_weekly": rt.KeepWeekly, "keep_monthly": rt.KeepMonthly, "keep_yearly": rt.KeepYearly} {
		if v < 0 {
			c.add(p+".retention."+name, "must be zero or more")
		}
	}
	if rt.KeepWithin > 0 && !end.IsZero() && now().Add(rt.KeepWithin.D()).After(end) {
		c.add(p+".retention.keep_within", "keeping snapshots for %s would keep data past the contract end (%s): shorten it, or rely on contract-end erasure (req 23)", rt.KeepWithin, cfg.Contract.EndDate)
	}
}

// validateHooks checks a job's hooks: each an argv whose program is an
// absolute path or a name looked up in PATH, never a shell line.
func validateHooks(c *collector, p string, h Hooks) {
	for _, hk := range []struct {
		name string
		argv []string
	}{{"before", h.Before}, {"after", h.After}, {"on_failure", h.OnFailure}} {
		name, argv := hk.name, hk.argv
		if len(argv) == 0 {
			continue
		}
		prog := argv[0]
		switch {
		case strings.TrimSpace(prog) == "":
			c.add(p+"."+name+"[0]", "name the program to run, e.g. [/usr/local/bin/quiesce, --app, web]")
		case strings.ContainsAny(prog, " \t|;&$<>`"):
			c.add(p+"."+name+"[0]", "%q is a shell line, but a hook is an argv run without a shell: give the program and each argument as list items", prog)
		case strings.Contains(prog, "/") && !filepath.IsAbs(prog):
			c.add(p+"."+name+"[0]", "%q: give an absolute path, or a bare name looked up in PATH", prog)
		}
	}
	if h.Timeout < 0 {
		c.add(p+".timeout", "must be positive, e.g. 5m")
	}
}

func validateChecks(c *collector, cfg *Config) {
	if s := cfg.Checks.Schedule; s != "" {
		if _, err := ParseSchedule(s, scheduleZone(cfg), now()); err != nil {
			c.add("checks.schedule", "%v (weekly is \"0 4 * * 0\")", err)
		}
	}
}

func validateDrills(c *collector, cfg *Config) {
	d := cfg.Drills
	if d.Schedule != "" {
		if _, err := ParseSchedule(d.Schedule, scheduleZone(cfg), now()); err != nil {
			c.add("drills.schedule", "%v (quarterly is \"0 3 1 */3 *\")", err)
		}
	}
	if d.Snapshot != "latest" && d.Snapshot != "random" {
		c.add("drills.snapshot", "%q: use latest or random", d.Snapshot)
	}
	if d.ReadDataSubsets < 1 || d.ReadDataSubsets > 1000 {
		c.add("drills.read_data_subsets", "use a number from 1 to 1000 (N drills read the whole repository once)")
	}
	for k, j := range d.Jobs {
		if _, ok := cfg.Job(j); !ok {
			c.add(fmt.Sprintf("drills.jobs[%d]", k), "no job is named %q", j)
		}
	}
	if d.Scratch.Postgres != nil {
		checkPostgres(c, "drills.scratch.postgres", d.Scratch.Postgres)
	}
	if d.Scratch.S3 != nil {
		checkS3(c, cfg, "drills.scratch.s3", d.Scratch.S3)
	}
}

// validateSourceErase checks a source's erase credential: the block that
// matches its kind, complete.
func validateSourceErase(c *collector, p string, s *Source, e *SourceErase) {
	if e.Postgres != nil {
		switch {
		case s.Postgres == nil:
			c.add(p+".postgres", "only a postgres source is erased with a PostgreSQL login: remove it")
		case e.Postgres.User == "":
			c.add(p+".postgres.user", "name the role that drops the database (its owner or a superuser)")
		}
		checkSecret(c, p+".postgres.password", e.Postgres.Password, false)
	}
	if e.S3 != nil {
		if s.S3 == nil {
			c.add(p+".s3", "only an s3 source is erased with S3 keys: remove it")
		} else {
			checkS3Keys(c, p+".s3", e.S3)
		}
	}
}

// checkS3Keys checks an erase key pair: both halves, as references.
func checkS3Keys(c *collector, p string, k *S3Keys) {
	checkSecret(c, p+".access_key", k.AccessKey, true)
	checkSecret(c, p+".secret_key", k.SecretKey, true)
}

func checkS3(c *collector, cfg *Config, p string, s *S3Target) {
	if s.Endpoint == "" {
		c.add(p+".endpoint", "give the S3 endpoint as host:port or a URL")
	} else if strings.Contains(s.Endpoint, "://") {
		if u, err := url.Parse(s.Endpoint); err != nil || u.Host == "" {
			c.add(p+".endpoint", "%q is not a valid endpoint: write host:port or https://host", s.Endpoint)
		}
	}
	if s.Bucket == "" {
		c.add(p+".bucket", "name the bucket")
	} else if len(s.Bucket) < 3 || len(s.Bucket) > 63 || strings.ToLower(s.Bucket) != s.Bucket || strings.ContainsAny(s.Bucket, "_/ ") {
		c.add(p+".bucket", "%q is not a valid bucket name: 3 to 63 lower-case letters, digits, dots and hyphens", s.Bucket)
	}
	if s.Region != "" && !slices.Contains(cfg.Residency.AllowedRegions, s.Region) {
		c.add(p+".region", "region %q is not allowed (allowed: %s); see residency.allowed_regions (req 2)", s.Region, strings.Join(cfg.Residency.AllowedRegions, ", "))
	}
	checkSecret(c, p+".access_key", s.AccessKey, true)
	checkSecret(c, p+".secret_key", s.SecretKey, true)
}

func checkPostgres(c *collector, p string, pg *PostgresSource) {
	if pg.Database == "" {
		c.add(p+".database", "name the database")
	}
	if pg.User == "" {
		c.add(p+".user", "name the database user")
	}
	if pg.Port < 1 || pg.Port > 65535 {
		c.add(p+".port", "port %d is out of range 1-65535", pg.Port)
	}
	switch pg.SSLMode {
	case "disable", "allow", "prefer", "require", "verify-ca", "verify-full":
	default:
		c.add(p+".sslmode", "%q: use disable, allow, prefer, require, verify-ca or verify-full", pg.SSLMode)
	}
	checkSecret(c, p+".password", pg.Password, false)
}

func checkSecret(c *collector, p string, r SecretRef, required bool) {
	if r.IsZero() {
		if required {
			c.add(p, "give a secret reference: file:/path, env:VARIABLE or a sealed value")
		}
		return
	}
	if err := r.Check(); err != nil {
		c.add(p, "%v", err)
	}
}

// isLoopback reports whether host names the loopback interface only.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func checkURL(c *collector, p, raw string) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		c.add(p, "%q is not an http(s) URL", raw)
	}
}

// uniqueNames checks that each item has a valid, unique name and returns
// the set of names.
func uniqueNames(c *collector, list string, n int, name func(int) string) map[string]bool {
	seen := map[string]bool{}
	for i := 0; i < n; i++ {
		p := fmt.Sprintf("%s[%d].name", list, i)
		v := name(i)
		switch {
		case v == "":
			c.add(p, "give it a name (lower-case letters, digits, - and _)")
		case !nameRE.MatchString(v):
			c.add(p, "%q: use lower-case letters, digits, - and _ (at most 63)", v)
		case seen[v]:
			c.add(p, "%q is used twice: names must be unique", v)
		}
		seen[v] = true
	}
	return seen
}

// scheduleZone is the contract's zone, or UTC while it is invalid (that
// is reported at contract.time_zone).
func scheduleZone(cfg *Config) *time.Location {
	loc, err := clock.LoadZone(cfg.Contract.TimeZone)
	if err != nil {
		return time.UTC
	}
	return loc
}

// checkSessionTimeouts wants a console session's idle timeout between a
// minute and its absolute timeout, and the absolute one at most a day.
func checkSessionTimeouts(c *collector, s Server) {
	idle, abs := s.SessionIdleTimeout.D(), s.SessionAbsoluteTimeout.D()
	switch {
	case idle < time.Minute:
		c.add("server.session_idle_timeout", "%s is shorter than a minute: give e.g. 15m", s.SessionIdleTimeout)
	case idle > abs:
		c.add("server.session_idle_timeout", "%s is longer than server.session_absolute_timeout %s: give e.g. 15m", s.SessionIdleTimeout, s.SessionAbsoluteTimeout)
	}
	if abs < time.Minute || abs > 24*time.Hour {
		c.add("server.session_absolute_timeout", "%s is not between 1m and 24h: give e.g. 8h", s.SessionAbsoluteTimeout)
	}
}

// validateOperators checks the password policy and the lockout (req 19,
// 20): they may be made stricter, not weaker than the floor.
func validateOperators(c *collector, cfg *Config) {
	pw := cfg.Operators.Password
	switch {
	case pw.MinLength < 8:
		c.add("operators.password.min_length", "%d is too short: at least 8 (default 12)", pw.MinLength)
	case pw.MinLength > 128:
		c.add("operators.password.min_length", "%d is more than anyone types: at most 128", pw.MinLength)
	}
	l := cfg.Operators.Lockout
	if l.AfterFailures < 1 || l.AfterFailures > 100 {
		c.add("operators.lockout.after_failures", "%d: lock an account after 1 to 100 consecutive failed logins (default 5)", l.AfterFailures)
	}
	if l.Period < 0 {
		c.add("operators.lockout.period", "a negative period: give a duration such as 30m, or 0 to keep the account locked until an admin unlocks it")
	}
}
