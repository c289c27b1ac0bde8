package app

import (
	"context"
	"fmt"

	"steward/internal/audit"
	"steward/internal/auth"
	"steward/internal/config"
	"steward/internal/errs"
)

// AuthPolicy is the operators section of cfg as auth's policy.
func AuthPolicy(cfg *config.Config) auth.Policy {
	pw, l := cfg.Operators.Password, cfg.Operators.Lockout
	yes := func(b *bool) bool { return b == nil || *b }
	return auth.Policy{MinLength: pw.MinLength, RequireUpper: yes(pw.RequireUpper), RequireLower: yes(pw.RequireLower),
		RequireDigit: yes(pw.RequireDigit), RequireSymbol: yes(pw.RequireSymbol), LockoutAfter: l.AfterFailures, LockoutPeriod: l.Period.D()}
}

// Auth is the operator accounts service over the catalog, auditing to
// the audit log.
func (a *App) Auth() *auth.Service {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.auth == nil {
		a.auth = auth.New(a.Catalog, AuthPolicy(a.Config), a.Clock, a.Audit)
	}
	return a.auth
}

// PasswordFunc asks for the password of the operator account name (the
// CLI reads it from the terminal or standard input).
type PasswordFunc func(name string) (string, error)

// CLIIdentity is who runs a CLI command that names an operator with
// --as.
type CLIIdentity struct {
	// Name is the --as name.
	Name string
	// Operator is the logged-in account; zero when Authenticated is false.
	Operator auth.Operator
	// Authenticated is false when no operator account exists yet, so
	// that --as could not be checked.
	Authenticated bool
}

// Actor is how the audit log names the identity: "user:NAME" for a
// logged-in operator, "unauthenticated:NAME" otherwise.
func (id CLIIdentity) Actor() string {
	if id.Authenticated {
		return id.Operator.Actor()
	}
	return "unauthenticated:" + id.Name
}

// Context returns ctx carrying the identity's audit actor: every record
// appended under it names the operator.
func (id CLIIdentity) Context(ctx context.Context) context.Context {
	return audit.WithActor(ctx, id.Actor())
}

// LoginCLI checks that the operator as may do action from the CLI. Once
// any operator account exists, as must be one: password(as) is asked
// and checked by auth.Service.Login (via "cli"; failures count towards
// the lockout), and the role must allow action. While none exists (a
// setup from before operator accounts), as is taken unchecked: the
// identity says Authenticated false and an auth.unauthenticated record
// says so in the audit log. command names what is being done (e.g.
// "erase approve"), for the records.
func (a *App) LoginCLI(ctx context.Context, as string, action auth.Action, command string, password PasswordFunc) (CLIIdentity, error) {
	if as == "" {
		return CLIIdentity{}, errs.Usage("%s: give --as NAME (your operator account)", command)
	}
	svc := a.Auth()
	exist, err := svc.HasAccounts(ctx)
	if err != nil {
		return CLIIdentity{}, err
	}
	if !exist {
		id := CLIIdentity{Name: as}
		err := a.Record(ctx, "auth.unauthenticated", "user:"+as, audit.ResultOK, map[string]string{"command": command,
			"why": "no operator account exists, so --as was not checked"})
		return id, err
	}
	return a.login(ctx, as, action, command, password)
}

func (a *App) login(ctx context.Context, as string, action auth.Action, command string, password PasswordFunc) (CLIIdentity, error) {
	svc := a.Auth()
	pw, err := password(as)
	if err != nil {
		return CLIIdentity{}, err
	}
	op, err := svc.Login(ctx, as, pw, "cli")
	if err != nil {
		return CLIIdentity{}, fmt.Errorf("%s --as %s: %w", command, as, err)
	}
	if !svc.Can(op, action) {
		details := map[string]string{"command": command, "role": string(op.Role), "action": string(action)}
		if err := a.Record(audit.WithActor(ctx, op.Actor()), "auth.forbidden", "user:"+as, audit.ResultDenied, details); err != nil {
			return CLIIdentity{}, err
		}
		return CLIIdentity{}, fmt.Errorf("%s --as %s: %w: role %s may not %s (%s)", command, as, auth.ErrForbidden, op.Role, action, rolesFor(action))
	}
	return CLIIdentity{Name: as, Operator: op, Authenticated: true}, nil
}

// rolesFor says which roles may do action, for error messages.
func rolesFor(action auth.Action) string {
	var names []string
	for _, r := range auth.Roles {
		if r.Allows(action) {
			names = append(names, string(r))
		}
	}
	return fmt.Sprintf("allowed for: %v", names)
}

// UserAdmin is who may manage operator accounts from the CLI. Until an
// enabled admin account exists, whoever runs Steward on the host (the
// state dir's owner) may: that is how the first account is made, and
// as is then ignored. Afterwards as must name an admin, whose password
// is asked. It returns the audit actor of the change.
func (a *App) UserAdmin(ctx context.Context, as, command string, password PasswordFunc) (string, error) {
	admin, err := a.Auth().HasAdmin(ctx)
	if err != nil {
		return "", err
	}
	if !admin {
		return audit.OSActor(), nil
	}
	if as == "" {
		return "", errs.Usage("%s: an admin account exists, so give --as ADMIN (an admin's account; its password is asked)", command)
	}
	id, err := a.login(ctx, as, auth.ActionManageUsers, command, password)
	if err != nil {
		return "", err
	}
	return id.Actor(), nil
}

// PasswordChanger is who may set name's password from the CLI: the
// operator name (as empty or name: their current password is asked), or
// an admin (as). Until an admin account exists, whoever runs Steward on
// the host may. It returns the audit actor of the change.
func (a *App) PasswordChanger(ctx context.Context, name, as, command string, password PasswordFunc) (string, error) {
	admin, err := a.Auth().HasAdmin(ctx)
	if err != nil {
		return "", err
	}
	if !admin {
		return audit.OSActor(), nil
	}
	action := auth.ActionManageUsers
	if as == "" || as == name {
		as, action = name, auth.ActionView // every role may change its own password
	}
	id, err := a.login(ctx, as, action, command, password)
	if err != nil {
		return "", err
	}
	return id.Actor(), nil
}

// ListUsers returns every account and records that they were viewed.
func (a *App) ListUsers(ctx context.Context) ([]auth.OperatorInfo, error) {
	list, err := a.Auth().List(ctx)
	if err != nil {
		return nil, err
	}
	return list, a.Record(ctx, "user.list", "operators", audit.ResultOK, map[string]string{"accounts": fmt.Sprint(len(list))})
}
