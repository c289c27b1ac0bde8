package server

import "errors"

// ErrPlainNetwork means a listen address off loopback without TLS: the
// bearer token would cross the network in clear text.
var ErrPlainNetwork = errors.New("the API would be served without TLS off loopback")

// ErrBadReportName means a report name that is not one file of the
// reports folder (a path, "..", or not a PDF).
var ErrBadReportName = errors.New("not a report file name")

// ErrBadLogin means a wrong name or password.
var ErrBadLogin = errors.New("wrong operator name or password")

// ErrLockedOut means an account locked after too many failed logins.
var ErrLockedOut = errors.New("the account is locked after too many failed logins")

// ErrDisabled means a disabled account.
var ErrDisabled = errors.New("the account is disabled")

// ErrMissingLabel means a console template asked for a label its
// language's catalogue lacks.
var ErrMissingLabel = errors.New("console label missing from the catalogue")
