package progress

import (
	"testing"
	"time"
)

func TestEstimate(t *testing.T) {
	start := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	ev := Event{BytesDone: 100, BytesTotal: 300}
	Estimate(&ev, start, start.Add(10*time.Second))
	if ev.Rate != 10 {
		t.Errorf("rate = %v, want 10", ev.Rate)
	}
	if ev.ETA != 20*time.Second {
		t.Errorf("ETA = %v, want 20s", ev.ETA)
	}
	ev = Event{BytesDone: 100, ETA: time.Minute}
	Estimate(&ev, start, start.Add(10*time.Second))
	if ev.ETA != time.Minute {
		t.Errorf("a known ETA was replaced: %v", ev.ETA)
	}
}

func TestMeterThrottles(t *testing.T) {
	start := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	now := start
	var got []Event
	m := &Meter{Start: start, Emit: func(ev Event) { got = append(got, ev) }, TotalBytes: 1000, now: func() time.Time { return now }}
	for i := 1; i <= 10; i++ {
		now = start.Add(time.Duration(i) * 100 * time.Millisecond)
		m.Update(int64(i*100), int64(i), false)
	}
	m.Update(1000, 10, true)
	if len(got) != 3 { // at 0.1 s (first), 0.6 s, then the forced one
		t.Fatalf("%d events, want 3: %+v", len(got), got)
	}
	last := got[len(got)-1]
	if last.Kind != Progress || last.BytesDone != 1000 || last.FilesDone != 10 || last.BytesTotal != 1000 {
		t.Fatalf("last event = %+v", last)
	}
	var f Func
	f.Emit(Event{}) // nil Func receives nothing and does not panic
}
