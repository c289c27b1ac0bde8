// Package logx builds Steward's slog loggers: text on a terminal, JSON for
// the daemon, every time in the one configured zone (req 15) as RFC 3339.
// One logger per component: logx.Component(log, "backup").
package logx

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"steward/internal/clock"
)

// ParseLevel reads debug, info, warn or error.
func ParseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.ToUpper(s))); err != nil {
		return 0, fmt.Errorf("--log-level %q: use debug, info, warn or error", s)
	}
	return l, nil
}

// New returns a logger writing to w as JSON or text at level, with times
// in loc.
func New(w io.Writer, json bool, level slog.Level, loc *time.Location) *slog.Logger {
	opts := &slog.HandlerOptions{
		Level: level,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey && a.Value.Kind() == slog.KindTime {
				return slog.String(slog.TimeKey, a.Value.Time().In(loc).Format(clock.Layout))
			}
			return a
		},
	}
	if json {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// Component is log with the component attribute set.
func Component(log *slog.Logger, name string) *slog.Logger {
	return log.With("component", name)
}
