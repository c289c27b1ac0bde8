package erase

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"steward/internal/config"
	"steward/internal/keys"
	"steward/internal/objstore"
	"steward/internal/pgsql"
)

// account finds a configured account by name, with its field path.
func (e *Eraser) account(name string) (*config.Account, string, error) {
	for i := range e.cfg.Accounts {
		if e.cfg.Accounts[i].Name == name {
			return &e.cfg.Accounts[i], fmt.Sprintf("accounts[%d]", i), nil
		}
	}
	return nil, "", fmt.Errorf("account %q is no longer in the config", name)
}

// revoke revokes one special account through its admin credential:
// an S3 access key is deleted through the service's admin API, a
// PostgreSQL role loses its sessions and what it owns and is dropped; a
// restic key went with the crypto-erase of its repository.
func (x *execRun) revoke(ctx context.Context, t Target) (TargetResult, error) {
	a, field, err := x.e.account(t.Name)
	if err != nil {
		return TargetResult{}, err
	}
	switch a.Kind {
	case config.AccountResticKey:
		return TargetResult{Result: TargetErased, Detail: "every key file of repository " + a.Target + " was deleted in step " + StepCryptoErase}, nil
	case config.AccountS3AccessKey:
		ka, err := x.e.keyAdmin(a, field)
		if err != nil {
			return TargetResult{}, err
		}
		existed, err := ka.DeleteUser(ctx, a.ID)
		if err != nil {
			return TargetResult{}, err
		}
		if !existed {
			return TargetResult{Result: TargetAbsent, Detail: "the service no longer knew the key"}, nil
		}
		return TargetResult{Result: TargetErased, Detail: "access key deleted through the " + a.Admin.Provider + " admin API"}, nil
	case config.AccountPostgresRole:
		adm := a.PostgresAdmin()
		pw, err := x.e.repos.PostgresPassword(field+".admin", adm)
		if err != nil {
			return TargetResult{}, err
		}
		rev, err := pgsql.RevokeRole(ctx, adm, pw, a.ID)
		if err != nil {
			return TargetResult{}, err
		}
		if !rev.Existed {
			return TargetResult{Result: TargetAbsent, Detail: "the role no longer existed"}, nil
		}
		return TargetResult{Result: TargetErased, Detail: fmt.Sprintf("%d sessions ended, what it owned reassigned to %s (%s), role dropped",
			rev.SessionsEnded, rev.ReassignedTo, strings.Join(rev.Databases, ", "))}, nil
	}
	return TargetResult{Result: TargetException, Detail: fmt.Sprintf("Steward cannot revoke a %s account: revoke %s by hand", a.Kind, a.ID)}, nil
}

func (e *Eraser) keyAdmin(a *config.Account, field string) (objstore.KeyAdmin, error) {
	adm := a.S3Admin()
	if adm == nil {
		return nil, fmt.Errorf("%s.admin: no admin block to revoke the key with", field)
	}
	access, err := e.repos.Secret(field+".admin.access_key", adm.AccessKey)
	if err != nil {
		return nil, err
	}
	secret, err := e.repos.Secret(field+".admin.secret_key", adm.SecretKey)
	if err != nil {
		return nil, err
	}
	t, err := objstore.AdminTargetFrom(adm, access, secret)
	if err != nil {
		return nil, err
	}
	return objstore.NewKeyAdmin(t)
}

// s3Of is the S3 block of an account's target (repository or source).
func (e *Eraser) s3Of(target string) (*config.S3Target, string) {
	if r, ok := e.cfg.Repository(target); ok && r.S3 != nil {
		return r.S3, "repositories." + target + ".s3"
	}
	if s, ok := e.cfg.Source(target); ok && s.S3 != nil {
		return s.S3, sourceField(e.cfg, target) + ".s3"
	}
	return nil, ""
}

// verifyAccount checks independently that an account is revoked: a
// request signed with the access key is refused as an unknown key; the
// role is absent from pg_roles; the repository has no key file.
func (e *Eraser) verifyAccount(ctx context.Context, t Target) (string, error) {
	a, field, err := e.account(t.Name)
	if err != nil {
		return "", err
	}
	switch a.Kind {
	case config.AccountResticKey:
		r, err := e.eraseRepo(a.Target)
		if err != nil {
			return "", err
		}
		ids, err := e.repos.KeyFiles(ctx, r)
		if err != nil && r.S3 != nil {
			return noVersions(ctx, e.verifyClient(ctx, r.S3.WithBucket(r.Target.Bucket, keyPrefix(r.Target.Prefix))), "no key object in any version")
		}
		if err != nil {
			return "", err
		}
		if len(ids) > 0 {
			return "", fmt.Errorf("repository %s still has %d key files", a.Target, len(ids))
		}
		return "repository " + a.Target + " has no key file", nil
	case config.AccountS3AccessKey:
		s3, sfield := e.s3Of(a.Target)
		if s3 == nil {
			return "", fmt.Errorf("%s.target: %q is not an S3 repository or source", field, a.Target)
		}
		tg, err := e.repos.S3Target(sfield, s3)
		if err != nil {
			return "", err
		}
		tg.AccessKey, tg.SecretKey = keys.Secret(a.ID), keys.RandomSecret(20)
		refused, answer, err := objstore.KeyRefused(ctx, tg)
		if err != nil {
			return "", err
		}
		if !refused {
			return "", fmt.Errorf("the service still knows access key %s (a request signed with it got %s)", a.ID, answer)
		}
		return "a request signed with the key was refused: " + answer, nil
	case config.AccountPostgresRole:
		adm := a.PostgresAdmin()
		pw, err := e.repos.PostgresPassword(field+".admin", adm)
		if err != nil {
			return "", err
		}
		exists, err := pgsql.RoleExists(ctx, adm, pw, a.ID)
		if err != nil {
			return "", err
		}
		if exists {
			return "", fmt.Errorf("role %s is still in pg_roles", a.ID)
		}
		return "absent from pg_roles", nil
	}
	return "", errors.New("not revoked: Steward cannot revoke this kind of account")
}

// verifyClient is c, or — when the key c signs with was revoked by the
// erase (InvalidAccessKeyId) — the same bucket and prefix seen with the
// admin key of an s3_access_key account on the same host, so that a
// revoked backup key does not hide what is left.
func (e *Eraser) verifyClient(ctx context.Context, c *objstore.Client) *objstore.Client {
	if _, err := c.Exists(ctx); err == nil || !strings.Contains(err.Error(), "InvalidAccessKeyId") {
		return c
	}
	t := c.Target()
	for i := range e.cfg.Accounts {
		a := &e.cfg.Accounts[i]
		s3, sfield := e.s3Of(a.Target)
		if a.Kind != config.AccountS3AccessKey || s3 == nil || a.S3Admin() == nil {
			continue
		}
		tg, err := e.repos.S3Target(sfield, s3)
		if err != nil || tg.Host != t.Host {
			continue
		}
		field := fmt.Sprintf("accounts[%d].admin", i)
		access, err1 := e.repos.Secret(field+".access_key", a.Admin.AccessKey)
		secret, err2 := e.repos.Secret(field+".secret_key", a.Admin.SecretKey)
		if err1 != nil || err2 != nil {
			continue
		}
		t.AccessKey, t.SecretKey = access, secret
		if ac, err := objstore.New(t); err == nil {
			return ac
		}
	}
	return c
}
