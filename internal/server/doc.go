// Package server is the daemon's HTTP side: /healthz, /readyz, /metrics
// (Prometheus text, every value derived from the catalog on each scrape)
// and a JSON API under /api/v1/ that needs the API bearer token. Every API
// call, allowed or refused, is an audit record (req 14). New builds the
// handler from what it reads (Reader, declared here); Listen serves it with
// timeouts, on loopback unless TLS is configured, until its context ends.
// docs/api.md describes the routes for operators.
//
// With Deps.Console the handler also serves the operator web console under
// /ui/ (console.go): server-rendered html/template pages and a stylesheet
// embedded from console/, labels from one catalogue per language
// (console/i18n), in-memory sessions (session.go) with idle and absolute
// timeouts, CSRF tokens and security headers. It reaches operator accounts
// and the erase engine only through the interfaces declared in
// console_deps.go; app adapts internal/auth and the capabilities to them.
// docs/console.md describes it for operators.
package server
