// Package server is the daemon's HTTP side: /healthz, /readyz, /metrics
// (Prometheus text, every value derived from the catalog on each scrape)
// and a JSON API under /api/v1/ that needs the API bearer token. Every API
// call, allowed or refused, is an audit record (req 14). New builds the
// handler from what it reads (Reader, declared here); Listen serves it with
// timeouts, on loopback unless TLS is configured, until its context ends.
// docs/api.md describes the routes for operators.
package server
