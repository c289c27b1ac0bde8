package server

import "errors"

// ErrPlainNetwork means a listen address off loopback without TLS: the
// bearer token would cross the network in clear text.
var ErrPlainNetwork = errors.New("the API would be served without TLS off loopback")

// ErrBadReportName means a report name that is not one file of the
// reports folder (a path, "..", or not a PDF).
var ErrBadReportName = errors.New("not a report file name")
