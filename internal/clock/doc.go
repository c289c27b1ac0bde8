// Package clock holds Steward's one time zone (req 15), an injectable clock
// for code that tests must control, RFC 3339 formatting, and the clock-sync
// check shown by `steward status` and recorded in reports.
package clock
