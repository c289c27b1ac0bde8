package config

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/go-co-op/gocron/v2"
)

// badSchedules are strings no schedule field may accept; none may panic.
var badSchedules = []string{
	"TZ=0",
	"TZ=",
	"CRON_TZ=",
	"CRON_TZ=Asia/Tokyo * * * * *",
	"TZ=Asia/Tokyo 0 2 * * *",
	" TZ=0 * * * * *",
	"   ",
	"* * *",
	"* * * *",
	"* * * * * * *",
	"@every -1s",
	"@every 0s",
	"@every 500ms",
	"@every",
	"@every forever",
	"@yearly-ish",
	"@",
	"every night",
	"60 * * * *",
	"* 24 * * *",
	"0 0 30 2 *",
	"0 0 0 * *",
	"*/0 * * * *",
	"1-0 * * * *",
	"5-1/2 * * * *",
	"毎日 二時",
	"\x00\xff\xfe * * * *",
	"🕑 * * * *",
	"* * * * MON-",
	"0 2 * * 8",
	"L W * * *",
}

func TestBadSchedulesAreRefused(t *testing.T) {
	for _, s := range append([]string{""}, badSchedules...) {
		t.Run(s, func(t *testing.T) {
			if _, err := ParseSchedule(s, time.UTC, time.Now()); !errors.Is(err, ErrSchedule) {
				t.Fatalf("ParseSchedule(%q) = %v, want ErrSchedule", s, err)
			}
		})
	}
	for _, s := range badSchedules {
		q, _ := json.Marshal(s) // a JSON string is a YAML double-quoted scalar
		t.Run("config/"+s, func(t *testing.T) {
			ps := problemsOf(t, base+"    schedule: "+string(q)+"\ndrills: {schedule: "+string(q)+"}\n")
			for _, path := range []string{"jobs[0].schedule", "drills.schedule"} {
				if !hasProblem(ps, path, "") {
					t.Errorf("no problem at %s for %q; got:\n%v", path, s, ps)
				}
			}
		})
	}
}

func TestZonePrefixNamesTheContractZone(t *testing.T) {
	ps := problemsOf(t, base+"    schedule: \"CRON_TZ=Asia/Tokyo * * * * *\"\n")
	if !hasProblem(ps, "jobs[0].schedule", "contract.time_zone") {
		t.Fatalf("want jobs[0].schedule naming contract.time_zone, got:\n%v", ps)
	}
}

func TestGoodSchedules(t *testing.T) {
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 4, 1, 1, 30, 0, 0, tokyo)
	for _, tt := range []struct {
		s    string
		next time.Time
	}{
		{"0 2 * * *", time.Date(2026, 4, 1, 2, 0, 0, 0, tokyo)},
		{"*/5 * * * * *", time.Date(2026, 4, 1, 1, 30, 5, 0, tokyo)},
		{"0 3 1 */3 *", time.Date(2026, 4, 1, 3, 0, 0, 0, tokyo)},
		{"@daily", time.Date(2026, 4, 2, 0, 0, 0, 0, tokyo)},
		{"@every 5s", now.Add(5 * time.Second)},
	} {
		t.Run(tt.s, func(t *testing.T) {
			c, err := ParseSchedule(tt.s, tokyo, now)
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Next(now); !got.Equal(tt.next) {
				t.Fatalf("next after %s = %s, want %s (in the contract's zone)", now, got, tt.next)
			}
		})
	}
}

// goodSchedules are schedules every schedule field accepts.
var goodSchedules = []string{
	"0 2 * * *", "*/5 * * * * *", "30 1 * * 1-5", "0 0 1 */3 *", "15 3 1,15 * *",
	"@hourly", "@daily", "@weekly", "@monthly", "@yearly", "@every 6h", "@every 1s", "@every 90m",
}

// FuzzSchedule: no string makes the schedule parser panic; a schedule it
// accepts has a next run, and gocron schedules it (as steward serve does,
// gocron.CronJob(s, true)) without error or panic.
func FuzzSchedule(f *testing.F) {
	for _, s := range append(goodSchedules, badSchedules...) {
		f.Add(s)
	}
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		f.Fatal(err)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, tokyo)
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseSchedule(s, tokyo, now)
		if err != nil {
			if !errors.Is(err, ErrSchedule) {
				t.Fatalf("ParseSchedule(%q): %v does not wrap ErrSchedule", s, err)
			}
			return
		}
		if next := c.Next(now); !next.After(now) && !next.IsZero() {
			t.Fatalf("ParseSchedule(%q): next run %v is not after %v", s, next, now)
		}
		gs, err := gocron.NewScheduler(gocron.WithLocation(tokyo))
		if err != nil {
			t.Fatal(err)
		}
		defer gs.Shutdown()
		if _, err := gs.NewJob(gocron.CronJob(s, true), gocron.NewTask(func() {})); err != nil {
			t.Fatalf("ParseSchedule accepts %q, gocron refuses it: %v", s, err)
		}
	})
}
