package config

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-co-op/gocron/v2"
)

// ScheduleHelp is the form of a schedule, for error messages and docs.
const ScheduleHelp = `cron "minute hour day month weekday" (e.g. "0 2 * * *"), with an optional leading seconds field ("*/5 * * * * *"), or @hourly, @daily, @weekly, @monthly, @every 6h`

// ErrSchedule means a schedule string is not one the daemon can run.
var ErrSchedule = errors.New("not a schedule")

// ParseSchedule checks that s is a schedule the daemon runs: it is parsed
// by gocron's own cron parser (gocron.CronJob(s, true): five fields, or six
// with seconds first, or a descriptor), in loc, so every string `config
// check` accepts is one `steward serve` can schedule. The zone is always
// the contract's: a TZ= or CRON_TZ= prefix is refused. The parser is never
// allowed to panic (robfig/cron, under gocron, panics on "TZ=0"): a panic
// is an error.
func ParseSchedule(s string, loc *time.Location, now time.Time) (cron gocron.Cron, err error) {
	if strings.TrimSpace(s) == "" {
		return nil, fmt.Errorf("%w: empty (use %s)", ErrSchedule, ScheduleHelp)
	}
	if strings.Contains(s, "TZ=") {
		return nil, fmt.Errorf("%w: %q names a time zone: remove the TZ=/CRON_TZ= prefix; every schedule runs in the contract's zone, contract.time_zone", ErrSchedule, s)
	}
	if rest, ok := strings.CutPrefix(strings.TrimSpace(s), "@every"); ok {
		d, perr := time.ParseDuration(strings.TrimSpace(rest))
		if perr != nil || d < time.Second {
			return nil, fmt.Errorf("%w: %q: @every takes a duration of at least 1s, e.g. @every 6h", ErrSchedule, s)
		}
	}
	if loc == nil {
		loc = time.UTC
	}
	defer func() {
		if r := recover(); r != nil {
			cron, err = nil, fmt.Errorf("%w: %q is not a schedule the cron parser can read (use %s)", ErrSchedule, s, ScheduleHelp)
		}
	}()
	c := gocron.NewDefaultCron(true)
	if err := c.IsValid(s, loc, now); err != nil {
		return nil, fmt.Errorf("%w: %q (use %s): %v", ErrSchedule, s, ScheduleHelp, strings.ReplaceAll(err.Error(), "\n", ": "))
	}
	return c, nil
}
