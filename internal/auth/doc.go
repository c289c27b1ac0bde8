// Package auth is Steward's operator accounts (issue 15; requirements 6
// measure 4, 14, 19 and 20): a login ID and an argon2id-hashed password
// per operator, a role that says what the operator may do, a password
// policy, and a lockout after consecutive failed logins. Every login,
// failure, lockout and account change is appended to the audit log;
// passwords never are.
//
// The Service does not decide who may call Add, SetPassword, Disable or
// Unlock: its callers (the CLI through app, the web console) log the
// operator in, ask Can(op, ActionManageUsers), and pass the operator's
// name as by, which the audit record names as the actor.
package auth
