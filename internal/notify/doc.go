// Package notify sends Steward's alerts (req 7, 12): a JSON webhook signed
// with HMAC-SHA256 of the configured secret and retried with backoff, an
// e-mail over SMTP with STARTTLS, and healthchecks-style pings around each
// run. Every alert sent, or that could not be sent, is an audit record.
// docs/api.md describes the formats and the check a receiver makes.
package notify
