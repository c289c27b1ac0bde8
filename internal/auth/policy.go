package auth

import (
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Policy is the password policy (req 19) and the lockout (req 20).
type Policy struct {
	// MinLength is the fewest characters (runes) a password may have.
	MinLength int
	// Require* ask for at least one character of each class: an
	// upper-case letter, a lower-case letter, a digit (0-9 or any Unicode
	// digit) and a symbol (Unicode punctuation or symbol, e.g. !#%&-_@).
	RequireUpper  bool
	RequireLower  bool
	RequireDigit  bool
	RequireSymbol bool
	// LockoutAfter is how many consecutive failed logins lock an account
	// (below 1: DefaultPolicy's 5).
	LockoutAfter int
	// LockoutPeriod is how long a lockout lasts; 0 means until an admin
	// unlocks the account.
	LockoutPeriod time.Duration
}

// DefaultPolicy is the policy when the config says nothing: 12
// characters of all four classes, locked after 5 failures until an admin
// unlocks.
func DefaultPolicy() Policy {
	return Policy{MinLength: 12, RequireUpper: true, RequireLower: true, RequireDigit: true, RequireSymbol: true, LockoutAfter: 5}
}

// MaxPasswordLength bounds a password (in bytes), so that hashing it
// stays cheap.
const MaxPasswordLength = 1024

// weakError is a refused password; it names everything missing.
type weakError struct{ msg string }

func (e *weakError) Error() string        { return e.msg }
func (e *weakError) Is(target error) bool { return target == ErrWeakPassword }

// Check refuses a password that breaks the policy, with one error naming
// everything that is wrong, e.g. "password is too short (9 characters,
// at least 12) and has no digit and no symbol". The error wraps
// ErrWeakPassword.
func (p Policy) Check(pw string) error {
	if len(pw) > MaxPasswordLength {
		return &weakError{fmt.Sprintf("password is too long (more than %d bytes)", MaxPasswordLength)}
	}
	var upper, lower, digit, symbol bool
	for _, r := range pw {
		switch {
		case unicode.IsUpper(r):
			upper = true
		case unicode.IsLower(r):
			lower = true
		case unicode.IsDigit(r):
			digit = true
		case unicode.IsPunct(r) || unicode.IsSymbol(r):
			symbol = true
		}
	}
	var problems, missing []string
	if n := utf8.RuneCountInString(pw); n < p.MinLength {
		problems = append(problems, fmt.Sprintf("is too short (%d characters, at least %d)", n, p.MinLength))
	}
	for _, c := range []struct {
		want, have bool
		name       string
	}{
		{p.RequireUpper, upper, "upper-case letter"},
		{p.RequireLower, lower, "lower-case letter"},
		{p.RequireDigit, digit, "digit"},
		{p.RequireSymbol, symbol, "symbol"},
	} {
		if c.want && !c.have {
			missing = append(missing, "no "+c.name)
		}
	}
	if len(missing) > 0 {
		problems = append(problems, "has "+joinAnd(missing))
	}
	if len(problems) == 0 {
		return nil
	}
	return &weakError{"password " + strings.Join(problems, " and ")}
}

// checkFor is Check, and also refuses the user's own name as password.
func (p Policy) checkFor(name, pw string) error {
	if strings.EqualFold(strings.TrimSpace(pw), name) {
		return &weakError{"password is the same as the user name"}
	}
	return p.Check(pw)
}

// joinAnd joins "a", "b", "c" as "a, b and c".
func joinAnd(s []string) string {
	if len(s) == 1 {
		return s[0]
	}
	return strings.Join(s[:len(s)-1], ", ") + " and " + s[len(s)-1]
}

func (p Policy) lockoutAfter() int {
	if p.LockoutAfter < 1 {
		return DefaultPolicy().LockoutAfter
	}
	return p.LockoutAfter
}
