package auth

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"sync"
	"time"

	"steward/internal/audit"
	"steward/internal/catalog"
	"steward/internal/clock"
)

// Auditor appends audit records (*audit.Log has it).
type Auditor interface {
	Append(ctx context.Context, e audit.Entry) (audit.Record, error)
}

// Operator is a logged-in operator.
type Operator struct {
	Name string
	Role Role
}

// Actor is how audit records name the operator: "user:NAME" (an OS user
// is "os:NAME").
func (o Operator) Actor() string { return Actor(o.Name) }

// Actor is the audit actor of the operator account name.
func Actor(name string) string { return "user:" + name }

// OperatorInfo is what List tells about an account; never its hash.
type OperatorInfo struct {
	Name     string `json:"name"`
	Role     Role   `json:"role"`
	Disabled bool   `json:"disabled"`
	Locked   bool   `json:"locked"`
	// LockedUntil is when the lockout ends; "" when not locked or when
	// it lasts until an admin unlocks the account.
	LockedUntil     string `json:"locked_until,omitempty"`
	Failures        int    `json:"failures"`
	Created         string `json:"created"`
	PasswordChanged string `json:"password_changed"`
}

// Audit actions written by the Service.
const (
	AuditLogin    = "auth.login"
	AuditLockout  = "auth.lockout"
	AuditUnlock   = "auth.unlock"
	AuditAdd      = "user.add"
	AuditPassword = "user.passwd"
	AuditDisable  = "user.disable"
	AuditEnable   = "user.enable"
)

// untilUnlocked is LockedUntil for a lockout that lasts until an admin
// unlocks the account (operators.lockout.period 0).
const untilUnlocked = "9999-12-31T23:59:59.000Z"

// maxConcurrentHashes bounds the argon2id computations running at once
// (each takes Params.Memory).
const maxConcurrentHashes = 2

// Service logs operators in and manages their accounts.
type Service struct {
	store  catalog.OperatorStore
	policy Policy
	clock  clock.Clock
	log    Auditor
	params Params
	sem    chan struct{}

	dummyOnce sync.Once
	dummy     string
}

// New returns a Service over store, enforcing policy, timed by clk (nil:
// the system clock), auditing to log (nil: nothing is recorded, for
// tests of pure logic only).
func New(store catalog.OperatorStore, policy Policy, clk clock.Clock, log Auditor) *Service {
	if clk == nil {
		clk = clock.New(time.Local, nil)
	}
	return &Service{store: store, policy: policy, clock: clk, log: log, params: DefaultParams, sem: make(chan struct{}, maxConcurrentHashes)}
}

// Policy is the service's policy.
func (s *Service) Policy() Policy { return s.policy }

func (s *Service) now() time.Time            { return s.clock.Now() }
func (s *Service) format(t time.Time) string { return t.Format(clock.Layout) }

// record appends one audit record; a failed append is returned.
func (s *Service) record(ctx context.Context, actor, action, target, result string, details map[string]string) error {
	if s.log == nil {
		return nil
	}
	if _, err := s.log.Append(context.WithoutCancel(ctx), audit.Entry{Actor: actor, Action: action, Target: target, Result: result, Details: details}); err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	return nil
}

// hash and verify take a slot of sem, so that at most
// maxConcurrentHashes argon2id computations run at once.
func (s *Service) hash(ctx context.Context, pw string) (string, error) {
	if err := s.acquire(ctx); err != nil {
		return "", err
	}
	defer func() { <-s.sem }()
	return HashPassword(pw, s.params)
}

func (s *Service) verify(ctx context.Context, phc, pw string) (bool, error) {
	if err := s.acquire(ctx); err != nil {
		return false, err
	}
	defer func() { <-s.sem }()
	return VerifyPassword(phc, pw)
}

func (s *Service) acquire(ctx context.Context) error {
	select {
	case s.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// dummyHash is a hash of a random password, verified for unknown users
// so that their logins take as long as a wrong password.
func (s *Service) dummyHash() string {
	s.dummyOnce.Do(func() {
		s.dummy, _ = HashPassword(rand.Text(), s.params)
	})
	return s.dummy
}

// locked says whether row is locked at now.
func locked(row catalog.OperatorRow, now time.Time) bool {
	if row.LockedUntil == "" {
		return false
	}
	if row.LockedUntil == untilUnlocked {
		return true
	}
	until, err := time.Parse(time.RFC3339Nano, row.LockedUntil)
	return err != nil || now.Before(until) // an unreadable time stays locked
}

// Login checks name's password and returns the operator. via says where
// the login comes from ("cli", or "console 192.0.2.1:5555") and is
// audited with every success, failure and lockout; the password never
// is. An unknown user and a wrong password are both ErrBadLogin and take
// about as long. A locked account is ErrLockedOut, even with the right
// password; a disabled one is ErrDisabled (with the right password;
// ErrBadLogin otherwise). The LockoutAfter-th consecutive failure locks
// the account (and returns ErrLockedOut); a success resets the count.
func (s *Service) Login(ctx context.Context, name, password, via string) (Operator, error) {
	details := map[string]string{"via": via}
	fail := func(result, reason string, err error) (Operator, error) {
		details["reason"] = reason
		if aerr := s.record(ctx, Actor(name), AuditLogin, "user:"+name, result, details); aerr != nil {
			err = errors.Join(err, aerr)
		}
		return Operator{}, err
	}
	row, err := s.store.Operator(ctx, name)
	if errors.Is(err, catalog.ErrNotFound) {
		if _, verr := s.verify(ctx, s.dummyHash(), password); verr != nil && ctx.Err() != nil {
			return Operator{}, verr
		}
		return fail(audit.ResultFailed, "unknown user", ErrBadLogin)
	}
	if err != nil {
		return Operator{}, fmt.Errorf("login: %w", err)
	}
	ok, verr := s.verify(ctx, row.Hash, password)
	if verr != nil {
		if ctx.Err() != nil {
			return Operator{}, verr
		}
		return fail(audit.ResultFailed, "stored hash unreadable: "+verr.Error(), ErrBadLogin)
	}
	hashUsed := row.Hash
	var lockedNow, wasLocked, expired, good bool
	now := s.now()
	row, err = s.store.UpdateOperator(ctx, name, func(o *catalog.OperatorRow) error {
		lockedNow, wasLocked, expired = false, false, false
		// A password changed since it was read is not the one checked.
		good = ok && o.Hash == hashUsed
		if locked(*o, now) {
			wasLocked = true
			return nil
		}
		if o.LockedUntil != "" { // the lockout period has passed
			expired = true
			o.LockedUntil, o.Failures = "", 0
		}
		switch {
		case good && o.Disabled:
		case good:
			o.Failures = 0
		default:
			o.Failures++
			if o.Failures >= s.policy.lockoutAfter() {
				lockedNow = true
				o.LockedUntil = untilUnlocked
				if s.policy.LockoutPeriod > 0 {
					o.LockedUntil = s.format(now.Add(s.policy.LockoutPeriod))
				}
			}
		}
		o.Updated = s.format(now)
		return nil
	})
	if err != nil {
		return Operator{}, fmt.Errorf("login: %w", err)
	}
	if expired {
		if aerr := s.record(ctx, "system", AuditUnlock, "user:"+name, audit.ResultOK, map[string]string{"reason": "lockout period passed"}); aerr != nil {
			return Operator{}, aerr
		}
	}
	switch {
	case wasLocked:
		return fail(audit.ResultDenied, "locked", ErrLockedOut)
	case lockedNow:
		details["failures"] = strconv.Itoa(row.Failures)
		op, err := fail(audit.ResultFailed, "wrong password", ErrLockedOut)
		ld := map[string]string{"failures": strconv.Itoa(row.Failures), "via": via, "locked_until": "until unlocked"}
		if row.LockedUntil != untilUnlocked {
			ld["locked_until"] = row.LockedUntil
		}
		if aerr := s.record(ctx, "system", AuditLockout, "user:"+name, audit.ResultOK, ld); aerr != nil {
			err = errors.Join(err, aerr)
		}
		return op, err
	case !good:
		details["failures"] = strconv.Itoa(row.Failures)
		return fail(audit.ResultFailed, "wrong password", ErrBadLogin)
	case row.Disabled:
		return fail(audit.ResultDenied, "disabled", ErrDisabled)
	}
	op := Operator{Name: row.Name, Role: Role(row.Role)}
	details["role"] = row.Role
	if err := s.record(ctx, op.Actor(), AuditLogin, "user:"+name, audit.ResultOK, details); err != nil {
		// An access that is not on record does not happen (req 14).
		return Operator{}, err
	}
	return op, nil
}

// Lookup returns the operator name as the account is now, without a
// password: for a session made by Login to check, on each request, that
// the account still exists, is not disabled or locked, and what its role
// is now. ErrNoUser, ErrDisabled or ErrLockedOut otherwise. Nothing is
// audited (the caller audits what the operator views or does).
func (s *Service) Lookup(ctx context.Context, name string) (Operator, error) {
	row, err := s.store.Operator(ctx, name)
	switch {
	case errors.Is(err, catalog.ErrNotFound):
		return Operator{}, fmt.Errorf("%q: %w", name, ErrNoUser)
	case err != nil:
		return Operator{}, err
	case row.Disabled:
		return Operator{}, fmt.Errorf("%q: %w", name, ErrDisabled)
	case locked(row, s.now()):
		return Operator{}, fmt.Errorf("%q: %w", name, ErrLockedOut)
	}
	return Operator{Name: row.Name, Role: Role(row.Role)}, nil
}

// Can says whether op may do action (see the role table in Role.Allows).
func (s *Service) Can(op Operator, action Action) bool { return op.Role.Allows(action) }

// namePattern is what an operator name may be: a login ID of letters,
// digits and . _ @ -, starting with a letter or digit.
var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$`)

// CheckName refuses a name that cannot be a login ID.
func CheckName(name string) error {
	if !namePattern.MatchString(name) {
		return fmt.Errorf("user name %q: use 1 to 64 letters, digits and . _ @ -, starting with a letter or digit", name)
	}
	return nil
}

// Add creates an account for name with role and password (which the
// policy must accept, and which may not be the name). by is who adds it
// (audited as the actor).
func (s *Service) Add(ctx context.Context, name string, role Role, password string, by string) error {
	if err := CheckName(name); err != nil {
		return err
	}
	if _, err := ParseRole(string(role)); err != nil {
		return err
	}
	if err := s.policy.checkFor(name, password); err != nil {
		return err
	}
	switch _, err := s.store.Operator(ctx, name); {
	case err == nil:
		return fmt.Errorf("add %q: %w", name, ErrUserExists)
	case !errors.Is(err, catalog.ErrNotFound):
		return fmt.Errorf("add %q: %w", name, err)
	}
	h, err := s.hash(ctx, password)
	if err != nil {
		return err
	}
	now := s.format(s.now())
	row := catalog.OperatorRow{Name: name, Role: string(role), Hash: h, Created: now, Updated: now, PasswordChanged: now}
	if err := s.store.PutOperator(ctx, row); err != nil {
		return fmt.Errorf("add %q: %w", name, err)
	}
	return s.record(ctx, by, AuditAdd, "user:"+name, audit.ResultOK, map[string]string{"role": string(role)})
}

// update changes an existing account and audits the change.
func (s *Service) update(ctx context.Context, name, by, action string, details map[string]string, fn func(*catalog.OperatorRow)) error {
	now := s.format(s.now())
	_, err := s.store.UpdateOperator(ctx, name, func(o *catalog.OperatorRow) error {
		fn(o)
		o.Updated = now
		return nil
	})
	if errors.Is(err, catalog.ErrNotFound) {
		return fmt.Errorf("%q: %w", name, ErrNoUser)
	}
	if err != nil {
		return err
	}
	return s.record(ctx, by, action, "user:"+name, audit.ResultOK, details)
}

// SetPassword replaces name's password (which the policy must accept).
// It leaves a lockout as it is (Unlock ends it).
func (s *Service) SetPassword(ctx context.Context, name, password, by string) error {
	if err := s.policy.checkFor(name, password); err != nil {
		return err
	}
	if _, err := s.store.Operator(ctx, name); errors.Is(err, catalog.ErrNotFound) {
		return fmt.Errorf("%q: %w", name, ErrNoUser)
	}
	h, err := s.hash(ctx, password)
	if err != nil {
		return err
	}
	now := s.format(s.now())
	return s.update(ctx, name, by, AuditPassword, nil, func(o *catalog.OperatorRow) {
		o.Hash, o.PasswordChanged = h, now
	})
}

// Disable stops name from logging in; the account and its history stay.
func (s *Service) Disable(ctx context.Context, name, by string) error {
	return s.update(ctx, name, by, AuditDisable, nil, func(o *catalog.OperatorRow) { o.Disabled = true })
}

// Enable lets a disabled account log in again.
func (s *Service) Enable(ctx context.Context, name, by string) error {
	return s.update(ctx, name, by, AuditEnable, nil, func(o *catalog.OperatorRow) { o.Disabled = false })
}

// Unlock ends name's lockout and resets its failure count.
func (s *Service) Unlock(ctx context.Context, name, by string) error {
	return s.update(ctx, name, by, AuditUnlock, nil, func(o *catalog.OperatorRow) {
		o.Failures, o.LockedUntil = 0, ""
	})
}

// List returns every account, by name.
func (s *Service) List(ctx context.Context) ([]OperatorInfo, error) {
	rows, err := s.store.Operators(ctx)
	if err != nil {
		return nil, err
	}
	now := s.now()
	out := []OperatorInfo{}
	for _, r := range rows {
		info := OperatorInfo{Name: r.Name, Role: Role(r.Role), Disabled: r.Disabled, Locked: locked(r, now), Failures: r.Failures,
			Created: r.Created, PasswordChanged: r.PasswordChanged}
		if info.Locked && r.LockedUntil != untilUnlocked {
			info.LockedUntil = r.LockedUntil
		}
		out = append(out, info)
	}
	return out, nil
}

// HasAccounts says whether any operator account exists.
func (s *Service) HasAccounts(ctx context.Context) (bool, error) {
	rows, err := s.store.Operators(ctx)
	return len(rows) > 0, err
}

// HasAdmin says whether an enabled admin account exists (until one does,
// accounts are managed by whoever runs Steward on the host).
func (s *Service) HasAdmin(ctx context.Context) (bool, error) {
	rows, err := s.store.Operators(ctx)
	if err != nil {
		return false, err
	}
	for _, r := range rows {
		if Role(r.Role) == RoleAdmin && !r.Disabled {
			return true, nil
		}
	}
	return false, nil
}
