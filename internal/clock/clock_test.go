package clock

import (
	"context"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestFormatInConfiguredZone(t *testing.T) {
	loc, err := LoadZone("")
	if err != nil {
		t.Fatal(err)
	}
	fake := NewFake(time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC))
	c := New(loc, fake)
	if got, want := c.Format(c.Now()), "2026-04-01T09:00:00.000+09:00"; got != want {
		t.Fatalf("Format = %q, want %q", got, want)
	}
	fake.Advance(90 * time.Minute)
	if got := c.Now().Hour(); got != 10 {
		t.Fatalf("hour after advance = %d, want 10", got)
	}
}

func TestLoadZoneRejectsUnknown(t *testing.T) {
	if _, err := LoadZone("Mars/Olympus"); err == nil {
		t.Fatal("LoadZone accepted an unknown zone")
	}
}

func TestParse(t *testing.T) {
	loc, _ := LoadZone("Asia/Tokyo")
	c := New(loc, nil)
	d, err := c.Parse("2026-04-01")
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Format(d); got != "2026-04-01T00:00:00.000+09:00" {
		t.Fatalf("date parsed as %s", got)
	}
	if _, err := c.Parse("yesterday"); err == nil {
		t.Fatal("Parse accepted garbage")
	}
}

func TestFromTimex(t *testing.T) {
	if st := fromTimex(unix.TIME_OK, 0, 1500); st.State != Synchronised || st.MaxError != 1500*time.Microsecond {
		t.Fatalf("synced kernel read as %+v", st)
	}
	if st := fromTimex(unix.TIME_ERROR, unix.STA_UNSYNC, 16000000); st.State != Unsynchronised {
		t.Fatalf("unsynced kernel read as %+v", st)
	}
}

func TestParseChronyTracking(t *testing.T) {
	line := "A9FEA97B,169.254.169.123,4,1700000000.0,0.000010,0.000002,0.000020,-1.2,0.001,0.02,0.000400,0.000100,64.0,Normal\n"
	st, ok := parseChronyTracking([]byte(line))
	if !ok || st.State != Synchronised {
		t.Fatalf("parse = %+v, %v", st, ok)
	}
	want := time.Duration((0.000010 + 0.0002 + 0.0001) * float64(time.Second))
	if d := st.MaxError - want; d < -time.Microsecond || d > time.Microsecond {
		t.Fatalf("max error %v, want %v", st.MaxError, want)
	}
	if _, ok := parseChronyTracking([]byte("garbage")); ok {
		t.Fatal("garbage parsed")
	}
}

func TestCheckSyncAnswers(t *testing.T) {
	st := CheckSync(context.Background())
	switch st.State {
	case Synchronised, Unsynchronised, Unknown:
	default:
		t.Fatalf("state %q", st.State)
	}
	if st.State != Unknown && st.Source == "" {
		t.Fatalf("no source in %+v", st)
	}
}
