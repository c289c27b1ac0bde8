package auth

import "errors"

// ErrBadLogin is a failed login: an unknown user or a wrong password (the
// two are not told apart, so that a login form cannot list the accounts).
var ErrBadLogin = errors.New("login failed: wrong user name or password")

// ErrLockedOut is a login to an account locked after too many failed
// logins, even with the right password: an admin unlocks it (`steward
// user unlock NAME`), or operators.lockout.period passes.
var ErrLockedOut = errors.New("the account is locked after too many failed logins: an admin must unlock it (steward user unlock NAME)")

// ErrDisabled is a login with the right password to a disabled account.
var ErrDisabled = errors.New("the account is disabled")

// ErrWeakPassword is wrapped by the error for a password the policy
// refuses; the error's text names everything that is missing.
var ErrWeakPassword = errors.New("the password does not meet the password policy")

// ErrUserExists is returned by Add for a name already taken.
var ErrUserExists = errors.New("an operator account with this name exists already")

// ErrNoUser is returned when an account management call names an
// operator that does not exist.
var ErrNoUser = errors.New("no such operator account")

// ErrForbidden is returned (by callers of Can) when an operator's role
// does not allow an action.
var ErrForbidden = errors.New("the operator's role does not allow this")
