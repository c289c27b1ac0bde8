package config

import (
	"cmp"
	"path/filepath"

	"steward/internal/clock"
	"steward/internal/state"
)

// Defaults that apply when the config leaves a field out.
var (
	DefaultAllowedRegions = []string{"ap-northeast-1", "ap-northeast-3"}
	DefaultFont           = "/usr/share/fonts/opentype/ipaexfont-gothic/ipaexg.ttf"
)

const (
	defaultStateDir        = "steward-state"
	defaultResticTimeout   = Duration(6 * 60 * 60 * 1e9)
	defaultStallTimeout    = Duration(3 * 60 * 1e9)
	defaultCoolingOff      = Duration(72 * 60 * 60 * 1e9)
	defaultRTOTarget       = Duration(4 * 60 * 60 * 1e9)
	defaultRPOTarget       = Duration(26 * 60 * 60 * 1e9)
	defaultRandomWindow    = Duration(30 * 24 * 60 * 60 * 1e9)
	defaultReadDataSubsets = 12
	defaultListen          = "127.0.0.1:8420"
	defaultSessionIdle     = Duration(15 * 60 * 1e9)
	defaultSessionAbsolute = Duration(8 * 60 * 60 * 1e9)
	defaultHookTimeout     = Duration(5 * 60 * 1e9)
	defaultMinLength       = 12
	defaultAfterFailures   = 5
)

func (c *Config) applyDefaults(baseDir string) {
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(baseDir, p)
	}
	if c.Contract.TimeZone == "" {
		c.Contract.TimeZone = clock.DefaultZone
	}
	if c.StateDir == "" {
		c.StateDir = defaultStateDir
	}
	c.StateDir = abs(c.StateDir)
	if len(c.Residency.AllowedRegions) == 0 {
		c.Residency.AllowedRegions = append([]string(nil), DefaultAllowedRegions...)
	}
	if c.Restic.Timeout == 0 {
		c.Restic.Timeout = defaultResticTimeout
	}
	if c.Restic.StallTimeout == 0 {
		c.Restic.StallTimeout = defaultStallTimeout
	}
	c.Restic.Path = abs(c.Restic.Path)
	for i := range c.Repositories {
		r := &c.Repositories[i]
		if r.Local != nil {
			if r.Local.Path == "" && r.Name != "" {
				r.Local.Path = state.Dir(c.StateDir).LocalRepository(r.Name)
			}
			r.Local.Path = abs(r.Local.Path)
		}
	}
	for i := range c.Sources {
		s := &c.Sources[i]
		if s.Path != nil {
			s.Path.Path = abs(s.Path.Path)
		}
		if s.Postgres != nil {
			s.Postgres.defaults()
		}
	}
	if c.Catalog.Postgres != nil {
		c.Catalog.Postgres.defaults()
	}
	for i := range c.Jobs {
		if h := &c.Jobs[i].Hooks; h.Timeout == 0 {
			h.Timeout = defaultHookTimeout
		}
	}
	d := &c.Drills
	if d.Snapshot == "" {
		d.Snapshot = "latest"
	}
	if d.RandomWindow == 0 {
		d.RandomWindow = defaultRandomWindow
	}
	if d.ReadDataSubsets == 0 {
		d.ReadDataSubsets = defaultReadDataSubsets
	}
	if d.RTOTarget == 0 {
		d.RTOTarget = defaultRTOTarget
	}
	if d.RPOTarget == 0 {
		d.RPOTarget = defaultRPOTarget
	}
	if d.Scratch.Dir == "" {
		d.Scratch.Dir = state.Dir(c.StateDir).Scratch()
	}
	d.Scratch.Dir = abs(d.Scratch.Dir)
	if d.Scratch.Postgres != nil {
		d.Scratch.Postgres.defaults()
	}
	for i := range c.Accounts {
		c.Accounts[i].defaults(c)
	}
	if c.Erase.CoolingOff == 0 {
		c.Erase.CoolingOff = defaultCoolingOff
	}
	s := &c.Signing
	if s.Certificate == "" {
		s.Certificate = state.Dir(c.StateDir).SigningCertificate()
	}
	if s.Key == "" {
		s.Key = state.Dir(c.StateDir).SigningKey()
	}
	s.Certificate, s.Key = abs(s.Certificate), abs(s.Key)
	if s.Font == "" {
		s.Font = DefaultFont
	}
	s.Font = abs(s.Font)
	if c.Server.Listen == "" {
		c.Server.Listen = defaultListen
	}
	if c.Server.SessionIdleTimeout == 0 {
		c.Server.SessionIdleTimeout = defaultSessionIdle
	}
	if c.Server.SessionAbsoluteTimeout == 0 {
		c.Server.SessionAbsoluteTimeout = defaultSessionAbsolute
	}
	if e := c.Notify.Email; e != nil && e.TLS == "" {
		e.TLS = EmailTLSMandatory
	}
	pw := &c.Operators.Password
	if pw.MinLength == 0 {
		pw.MinLength = defaultMinLength
	}
	for _, b := range []**bool{&pw.RequireUpper, &pw.RequireLower, &pw.RequireDigit, &pw.RequireSymbol} {
		if *b == nil {
			yes := true
			*b = &yes
		}
	}
	if c.Operators.Lockout.AfterFailures == 0 {
		c.Operators.Lockout.AfterFailures = defaultAfterFailures
	}
}

// defaults fills an account's admin block from its target: a role lives on
// the target source's server, an access key's service signs for the
// target's region.
func (a *Account) defaults(c *Config) {
	ad := a.Admin
	if ad == nil {
		return
	}
	switch a.Kind {
	case AccountPostgresRole:
		if s, ok := c.Source(a.Target); ok && s.Postgres != nil {
			ad.Host = cmp.Or(ad.Host, s.Postgres.Host)
			if ad.Port == 0 {
				ad.Port = s.Postgres.Port
			}
			ad.SSLMode = cmp.Or(ad.SSLMode, s.Postgres.SSLMode)
		}
		ad.Database = cmp.Or(ad.Database, defaultAdminDatabase)
		ad.Host = cmp.Or(ad.Host, "localhost")
		if ad.Port == 0 {
			ad.Port = 5432
		}
		ad.SSLMode = cmp.Or(ad.SSLMode, "prefer")
	case AccountS3AccessKey:
		if ad.Region == "" {
			if t := c.s3Of(a.Target); t != nil {
				ad.Region = t.Region
			}
		}
	}
}

// s3Of is the S3 settings of the repository or source named name, nil when
// it is neither or not on S3.
func (c *Config) s3Of(name string) *S3Target {
	if r, ok := c.Repository(name); ok && r.S3 != nil {
		return r.S3
	}
	if s, ok := c.Source(name); ok && s.S3 != nil {
		return s.S3
	}
	return nil
}

func (p *PostgresSource) defaults() {
	if p.Host == "" {
		p.Host = "localhost"
	}
	if p.Port == 0 {
		p.Port = 5432
	}
	if p.SSLMode == "" {
		p.SSLMode = "prefer"
	}
}
