package clock

import (
	"fmt"
	"sync"
	"time"
)

// DefaultZone is the zone used when the config names none.
const DefaultZone = "Asia/Tokyo"

// Layout is the RFC 3339 layout (with milliseconds and offset) that Steward
// writes everywhere: logs, audit records, catalog rows and reports.
const Layout = "2006-01-02T15:04:05.000Z07:00"

// Clock tells the time. Logic that tests must control takes a Clock instead
// of calling time.Now.
type Clock interface {
	Now() time.Time
}

// Zoned is a Clock whose times are in one configured location.
type Zoned struct {
	loc  *time.Location
	base Clock
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// System is the wall clock.
var System Clock = systemClock{}

// LoadZone loads a zone by IANA name; an empty name means DefaultZone.
func LoadZone(name string) (*time.Location, error) {
	if name == "" {
		name = DefaultZone
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("unknown time zone %q: use an IANA name such as %q", name, DefaultZone)
	}
	return loc, nil
}

// New returns a clock in loc that reads base (System when nil).
func New(loc *time.Location, base Clock) *Zoned {
	if base == nil {
		base = System
	}
	if loc == nil {
		loc = time.UTC
	}
	return &Zoned{loc: loc, base: base}
}

// Now is the base clock's time in the configured zone.
func (z *Zoned) Now() time.Time { return z.base.Now().In(z.loc) }

// Location is the configured zone.
func (z *Zoned) Location() *time.Location { return z.loc }

// Format writes t in the configured zone as RFC 3339 with milliseconds.
func (z *Zoned) Format(t time.Time) string { return t.In(z.loc).Format(Layout) }

// Parse reads an RFC 3339 time, or a bare date (YYYY-MM-DD, midnight in the
// configured zone).
func (z *Zoned) Parse(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.In(z.loc), nil
	}
	if t, err := time.ParseInLocation(time.DateOnly, s, z.loc); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("time %q: use RFC 3339 (2026-04-01T09:00:00+09:00) or a date (2026-04-01)", s)
}

// Fake is a manually advanced clock for tests.
type Fake struct {
	mu sync.Mutex
	t  time.Time
}

// NewFake starts a fake clock at t.
func NewFake(t time.Time) *Fake { return &Fake{t: t} }

// Now returns the fake time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.t
}

// Advance moves the fake time forward by d.
func (f *Fake) Advance(d time.Duration) {
	f.mu.Lock()
	f.t = f.t.Add(d)
	f.mu.Unlock()
}

// Set moves the fake time to t.
func (f *Fake) Set(t time.Time) {
	f.mu.Lock()
	f.t = t
	f.mu.Unlock()
}
