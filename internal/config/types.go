package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Duration is a time.Duration written as Go durations ("36h", "90m") or in
// days ("7d", "1.5d").
type Duration time.Duration

// D is the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// maxDuration is 2^63 ns as a float64: the first value that does not fit.
const maxDuration = float64(1 << 63)

// ParseDuration reads "7d", "36h", "1h30m". Negative, infinite, NaN and
// out-of-range values are errors (a duration past about 292 years would
// wrap to a negative one).
func ParseDuration(s string) (Duration, error) {
	s = strings.TrimSpace(s)
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseFloat(days, 64)
		if err != nil || n < 0 || math.IsNaN(n) || math.IsInf(n, 0) {
			return 0, fmt.Errorf("duration %q: write a number of days such as \"7d\", or hours such as \"36h\"", s)
		}
		// A float64 of nanoseconds converts to an int64 only below 2^63;
		// past it the conversion wraps to about -292 years.
		if ns := n * float64(24*time.Hour); ns >= maxDuration {
			return 0, fmt.Errorf("duration %q: at most 106751 days (about 292 years)", s)
		}
		return Duration(n * float64(24*time.Hour)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("duration %q: write days such as \"7d\", or hours and minutes such as \"36h\" or \"90m\"", s)
	}
	return Duration(d), nil
}

// UnmarshalYAML reads a duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseDuration(n.Value)
	if err != nil {
		return typeError(err)
	}
	*d = v
	return nil
}

// String writes whole days as "Nd", the rest as Go durations.
func (d Duration) String() string {
	td := time.Duration(d)
	if td != 0 && td%(24*time.Hour) == 0 {
		return strconv.FormatInt(int64(td/(24*time.Hour)), 10) + "d"
	}
	return td.String()
}

// Date is a calendar date (YYYY-MM-DD) without a zone; the contract's zone
// gives it one.
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// IsZero reports an unset date.
func (d Date) IsZero() bool { return d.Year == 0 }

// UnmarshalYAML reads YYYY-MM-DD.
func (d *Date) UnmarshalYAML(n *yaml.Node) error {
	t, err := time.Parse(time.DateOnly, n.Value)
	if err != nil {
		return typeError(fmt.Errorf("date %q: write YYYY-MM-DD, e.g. 2027-03-31", n.Value))
	}
	*d = Date{t.Year(), t.Month(), t.Day()}
	return nil
}

// String is YYYY-MM-DD.
func (d Date) String() string {
	if d.IsZero() {
		return ""
	}
	return fmt.Sprintf("%04d-%02d-%02d", d.Year, d.Month, d.Day)
}

// End is the first instant after the date in loc: the moment by which data
// must be gone.
func (d Date) End(loc *time.Location) time.Time {
	return time.Date(d.Year, d.Month, d.Day+1, 0, 0, 0, 0, loc)
}

// SecretRef points at a secret: "file:/path", "env:NAME" or
// "sealed:v1:…" (sealed by Steward's master key). Secrets are never
// written inline in the config.
type SecretRef string

// Secret reference schemes.
const (
	SchemeFile   = "file"
	SchemeEnv    = "env"
	SchemeSealed = "sealed"
)

// IsZero reports an unset reference.
func (r SecretRef) IsZero() bool { return r == "" }

// Scheme and rest of the reference, e.g. ("env", "PGPASSWORD").
func (r SecretRef) Parts() (scheme, rest string) {
	scheme, rest, _ = strings.Cut(string(r), ":")
	return scheme, rest
}

// Check says what is wrong with the reference, without ever echoing it
// (it may be a secret pasted by mistake).
func (r SecretRef) Check() error {
	scheme, rest := r.Parts()
	switch scheme {
	case SchemeFile, SchemeEnv, SchemeSealed:
		if rest == "" {
			return fmt.Errorf("%q reference has nothing after the colon", scheme+":")
		}
		return nil
	}
	return fmt.Errorf("secrets are never written inline: use file:/path/to/secret, env:VARIABLE, or a value sealed with `steward secret seal`")
}

// String never shows a sealed value or an inline secret.
func (r SecretRef) String() string {
	scheme, rest := r.Parts()
	switch scheme {
	case SchemeFile, SchemeEnv:
		return scheme + ":" + rest
	case SchemeSealed:
		return "sealed:…"
	}
	if r == "" {
		return ""
	}
	return "[redacted]"
}

// typeError lets the YAML decoder go on past a bad value, so that every
// problem is reported at once.
func typeError(err error) error { return &yaml.TypeError{Errors: []string{err.Error()}} }

// SealedPurpose is the purpose sealed config secrets are sealed for (see
// keys.Keyring.Seal).
const SealedPurpose = "config-secret"
