// Package progress is the one progress event that long work (backups,
// restores, the restores inside drills) reports to whoever shows it: a
// progress bar on a terminal, a JSON line for scripts, later the daemon's
// logs. Names of files, tables or objects (contract content) never
// appear in an event.
package progress

import "time"

// Event kinds.
const (
	Check     = "check"     // a residency or probe answer, or a note
	Start     = "start"     // a source's backup or restore begins
	Progress  = "progress"  // bytes and files so far
	Done      = "done"      // a snapshot is saved, or a restore finished
	Failed    = "failed"    // a source, a copy, retention or a restore failed
	Copy      = "copy"      // a snapshot was copied to a replica
	Retention = "retention" // retention applied to a repository
)

// Event is one progress event.
type Event struct {
	Time       time.Time `json:"time"`
	Kind       string    `json:"kind"`
	Job        string    `json:"job,omitempty"`
	Source     string    `json:"source,omitempty"`
	Repository string    `json:"repository,omitempty"`
	SnapshotID string    `json:"snapshot_id,omitempty"`
	BytesDone  int64     `json:"bytes_done,omitempty"`
	// BytesTotal is 0 when unknown (a database dump's size is known only
	// at its end).
	BytesTotal int64   `json:"bytes_total,omitempty"`
	FilesDone  int64   `json:"files_done,omitempty"`
	FilesTotal int64   `json:"files_total,omitempty"`
	Rate       float64 `json:"rate,omitempty"` // bytes per second
	// ETA is the estimated time left, 0 when unknown.
	ETA     time.Duration `json:"eta,omitempty"`
	Message string        `json:"message,omitempty"`
	Error   string        `json:"error,omitempty"`
}

// Func receives events, from the working goroutine: it must not block
// for long. A nil Func is allowed everywhere and receives nothing.
type Func func(Event)

// Emit sends ev to f if f is set.
func (f Func) Emit(ev Event) {
	if f != nil {
		f(ev)
	}
}

// Estimate fills in ev.Rate (bytes per second since start) and, when the
// total is known and ETA is not already set, ev.ETA.
func Estimate(ev *Event, start, now time.Time) {
	if el := now.Sub(start).Seconds(); el > 0 {
		ev.Rate = float64(ev.BytesDone) / el
	}
	if ev.ETA == 0 && ev.Rate > 0 && ev.BytesTotal > ev.BytesDone {
		ev.ETA = time.Duration(float64(ev.BytesTotal-ev.BytesDone) / ev.Rate * float64(time.Second))
	}
}

// Meter turns running byte and file counts into Progress events, at most
// one every Interval (default 500 ms) unless forced.
type Meter struct {
	Start      time.Time
	Emit       func(Event)
	TotalBytes int64
	TotalFiles int64
	Interval   time.Duration
	last       time.Time
	now        func() time.Time
}

// Update reports bytes and files done so far.
func (m *Meter) Update(bytes, files int64, force bool) {
	now := time.Now()
	if m.now != nil {
		now = m.now()
	}
	iv := m.Interval
	if iv == 0 {
		iv = 500 * time.Millisecond
	}
	if !force && now.Sub(m.last) < iv {
		return
	}
	m.last = now
	ev := Event{Kind: Progress, BytesDone: bytes, BytesTotal: m.TotalBytes, FilesDone: files, FilesTotal: m.TotalFiles}
	Estimate(&ev, m.Start, now)
	if m.Emit != nil {
		m.Emit(ev)
	}
}
