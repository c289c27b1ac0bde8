package resticx

import (
	"encoding/json"
	"strings"
	"time"
)

// Message is one JSON line restic prints with --json. MessageType says
// which fields are set.
type Message struct {
	MessageType string `json:"message_type"`

	// status (backup, restore)
	SecondsElapsed   float64  `json:"seconds_elapsed,omitempty"`
	SecondsRemaining float64  `json:"seconds_remaining,omitempty"`
	PercentDone      float64  `json:"percent_done,omitempty"`
	TotalFiles       int64    `json:"total_files,omitempty"`
	FilesDone        int64    `json:"files_done,omitempty"`
	FilesRestored    int64    `json:"files_restored,omitempty"`
	TotalBytes       int64    `json:"total_bytes,omitempty"`
	BytesDone        int64    `json:"bytes_done,omitempty"`
	BytesRestored    int64    `json:"bytes_restored,omitempty"`
	ErrorCount       int64    `json:"error_count,omitempty"`
	CurrentFiles     []string `json:"current_files,omitempty"`

	// summary (backup)
	FilesNew            int64     `json:"files_new,omitempty"`
	FilesChanged        int64     `json:"files_changed,omitempty"`
	FilesUnmodified     int64     `json:"files_unmodified,omitempty"`
	DataAdded           int64     `json:"data_added,omitempty"`
	DataAddedPacked     int64     `json:"data_added_packed,omitempty"`
	TotalFilesProcessed int64     `json:"total_files_processed,omitempty"`
	TotalBytesProcessed int64     `json:"total_bytes_processed,omitempty"`
	TotalDuration       float64   `json:"total_duration,omitempty"`
	BackupStart         time.Time `json:"backup_start,omitzero"`
	BackupEnd           time.Time `json:"backup_end,omitzero"`
	SnapshotID          string    `json:"snapshot_id,omitempty"`

	// error, exit_error
	Error   *ErrorDetail `json:"error,omitempty"`
	During  string       `json:"during,omitempty"`
	Item    string       `json:"item,omitempty"`
	Code    int          `json:"code,omitempty"`
	Message string       `json:"message,omitempty"`

	// Raw is the line as restic printed it.
	Raw json.RawMessage `json:"-"`
}

// ErrorDetail is the error object of an "error" message.
type ErrorDetail struct {
	Message string `json:"message"`
}

// Snapshot is one entry of `restic snapshots --json`.
type Snapshot struct {
	ID       string    `json:"id"`
	ShortID  string    `json:"short_id"`
	Time     time.Time `json:"time"`
	Parent   string    `json:"parent,omitempty"`
	Tree     string    `json:"tree"`
	Paths    []string  `json:"paths"`
	Hostname string    `json:"hostname"`
	Tags     []string  `json:"tags,omitempty"`
	// Original is the id of the snapshot this one was copied from
	// (`restic copy`), "" for a snapshot made here.
	Original string `json:"original,omitempty"`
	Summary  *struct {
		TotalFilesProcessed int64 `json:"total_files_processed"`
		TotalBytesProcessed int64 `json:"total_bytes_processed"`
		DataAdded           int64 `json:"data_added"`
	} `json:"summary,omitempty"`
}

// TagValue is the rest of the first tag that starts with prefix ("" when
// none does), e.g. TagValue("run:").
func (s Snapshot) TagValue(prefix string) string {
	for _, t := range s.Tags {
		if v, ok := strings.CutPrefix(t, prefix); ok && v != "" {
			return v
		}
	}
	return ""
}

// OriginalID is the snapshot's id in the repository it was first saved
// in: Original for a copy, else its own id.
func (s Snapshot) OriginalID() string {
	if s.Original != "" {
		return s.Original
	}
	return s.ID
}

// HasTag reports whether the snapshot carries tag.
func (s Snapshot) HasTag(tag string) bool {
	for _, t := range s.Tags {
		if t == tag {
			return true
		}
	}
	return false
}
