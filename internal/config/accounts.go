package config

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// The keys of an admin block, by the account kind that uses them.
var (
	s3AdminKeys       = []string{"provider", "endpoint", "region", "access_key", "secret_key"}
	postgresAdminKeys = []string{"host", "port", "database", "user", "password", "sslmode"}
)

// setKeys lists the keys of a that are set, S3 ones first.
func (a *AccountAdmin) setKeys() (s3, pg []string) {
	for _, f := range []struct {
		key string
		set bool
	}{
		{"provider", a.Provider != ""}, {"endpoint", a.Endpoint != ""}, {"region", a.Region != ""},
		{"access_key", !a.AccessKey.IsZero()}, {"secret_key", !a.SecretKey.IsZero()},
	} {
		if f.set {
			s3 = append(s3, f.key)
		}
	}
	for _, f := range []struct {
		key string
		set bool
	}{
		{"host", a.Host != ""}, {"port", a.Port != 0}, {"database", a.Database != ""},
		{"user", a.User != ""}, {"password", !a.Password.IsZero()}, {"sslmode", a.SSLMode != ""},
	} {
		if f.set {
			pg = append(pg, f.key)
		}
	}
	return s3, pg
}

// validateAccounts checks that every account can be revoked by Steward:
// a kind it knows how to revoke, an id, a target that exists and suits
// the kind, and the admin block that kind's revocation needs.
func validateAccounts(c *collector, cfg *Config, repos, sources map[string]bool) {
	uniqueNames(c, "accounts", len(cfg.Accounts), func(i int) string { return cfg.Accounts[i].Name })
	for i := range cfg.Accounts {
		a := &cfg.Accounts[i]
		p := fmt.Sprintf("accounts[%d]", i)
		if todo, ok := unrevocable[a.Kind]; ok {
			c.add(p+".kind", "Steward cannot revoke %s accounts: %s", a.Kind, todo)
			continue
		}
		if !slices.Contains(AccountKinds, a.Kind) {
			c.add(p+".kind", "kind %q is not known: use one of %s", a.Kind, strings.Join(AccountKinds, ", "))
			continue
		}
		if strings.TrimSpace(a.ID) == "" {
			c.add(p+".id", "give the %s", map[string]string{
				AccountS3AccessKey:  "access key id to delete",
				AccountPostgresRole: "role name to drop",
				AccountResticKey:    "restic key id (`restic key list`) that crypto-erase deletes",
			}[a.Kind])
		}
		targetOK := checkAccountTarget(c, cfg, p+".target", a, repos, sources)
		switch a.Kind {
		case AccountS3AccessKey:
			checkS3Admin(c, p+".admin", a, targetOK)
		case AccountPostgresRole:
			checkPostgresAdmin(c, p+".admin", a)
		case AccountResticKey:
			if a.Admin != nil {
				c.add(p+".admin", "a restic key needs no admin: crypto-erase deletes it with the repository's other key files; remove admin")
			}
		}
	}
}

// checkAccountTarget checks that the target exists and is what the kind
// lives in; false when it is not.
func checkAccountTarget(c *collector, cfg *Config, p string, a *Account, repos, sources map[string]bool) bool {
	if a.Target == "" {
		c.add(p, "name the repository or source the account belongs to")
		return false
	}
	if !repos[a.Target] && !sources[a.Target] {
		c.add(p, "%q is neither a repository nor a source: name one of them", a.Target)
		return false
	}
	switch a.Kind {
	case AccountS3AccessKey:
		if cfg.s3Of(a.Target) == nil {
			c.add(p, "%q is not on S3: an access key belongs to an S3 repository or source, whose endpoint erase verify tries the revoked key on", a.Target)
			return false
		}
	case AccountPostgresRole:
		if s, ok := cfg.Source(a.Target); !ok || s.Postgres == nil {
			c.add(p, "%q is not a postgres source: a role belongs to the source on whose server it is dropped", a.Target)
			return false
		}
	case AccountResticKey:
		if !repos[a.Target] {
			c.add(p, "%q is not a repository: a restic key belongs to a repository", a.Target)
			return false
		}
	}
	return true
}

// checkS3Admin checks an s3_access_key's admin block; the region is
// looked for only when the target is valid (it is the default).
func checkS3Admin(c *collector, p string, a *Account, targetOK bool) {
	ad := a.Admin
	if ad == nil {
		c.add(p, "give the S3 admin API that deletes the key: admin: {provider: %s, endpoint: http(s)://host:port, access_key: …, secret_key: …}", S3AdminProviders[0])
		return
	}
	if _, pg := ad.setKeys(); len(pg) > 0 {
		c.add(p+"."+pg[0], "an s3_access_key's admin block takes %s, not %s: remove %s", strings.Join(s3AdminKeys, ", "), strings.Join(pg, ", "), strings.Join(pg, ", "))
	}
	switch {
	case ad.Provider == "":
		c.add(p+".provider", "name the S3 service whose admin API deletes the key: %s", strings.Join(S3AdminProviders, ", "))
	case !slices.Contains(S3AdminProviders, ad.Provider):
		c.add(p+".provider", "Steward cannot delete access keys on %q: supported providers are %s; otherwise remove the account and delete the key by hand", ad.Provider, strings.Join(S3AdminProviders, ", "))
	}
	if ad.Endpoint == "" {
		c.add(p+".endpoint", "give the admin API's URL, e.g. https://s3-admin.example.jp:7070 (versitygw's --admin-port)")
	} else if u, err := url.Parse(ad.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
		c.add(p+".endpoint", "%q is not an admin API URL: write http(s)://host:port", ad.Endpoint)
	}
	if ad.Region == "" && targetOK {
		c.add(p+".region", "give the region the S3 service signs for (the target %q names none); a signature for another region is refused", a.Target)
	}
	checkSecret(c, p+".access_key", ad.AccessKey, true)
	checkSecret(c, p+".secret_key", ad.SecretKey, true)
}

func checkPostgresAdmin(c *collector, p string, a *Account) {
	ad := a.Admin
	if ad == nil {
		c.add(p, "give the login that drops the role: admin: {user: …, password: …}, a superuser or a role with CREATEROLE and ADMIN OPTION on %q (host and port default to the target source's)", a.ID)
		return
	}
	if s3, _ := ad.setKeys(); len(s3) > 0 {
		c.add(p+"."+s3[0], "a postgres_role's admin block takes %s, not %s: remove %s", strings.Join(postgresAdminKeys, ", "), strings.Join(s3, ", "), strings.Join(s3, ", "))
	}
	if ad.User != "" && ad.User == a.ID {
		c.add(p+".user", "the role %q cannot drop itself: log in as a superuser or another role with CREATEROLE", a.ID)
	}
	checkPostgres(c, p, a.PostgresAdmin())
}
