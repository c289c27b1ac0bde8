package drills

import (
	"fmt"
	"time"
)

// RunbookVersion is the version of docs/runbook-restore.md that drills
// follow; every drill record cites it (a test keeps the two in sync).
const RunbookVersion = "1.1"

// RunbookDate is the date of that runbook version.
const RunbookDate = "2026-12-01"

// Schema identifies the drill record's JSON layout.
const Schema = "steward.drill/v1"

// Results of a drill, a step or a check.
const (
	ResultPassed      = "passed"
	ResultFailed      = "failed"
	ResultSkipped     = "skipped"
	ResultInterrupted = "interrupted"
)

// Triggers of a drill.
const (
	TriggerSchedule = "schedule"
	TriggerOperator = "operator"
)

// Step names, in the order the runbook's drill procedure runs them.
const (
	StepChooseSnapshot = "choose-snapshot"
	StepLoadManifest   = "load-manifest"
	StepRestore        = "restore"
	StepVerify         = "verify"
	StepReadData       = "read-data-subset"
	StepCleanup        = "cleanup"
)

// Record is one drill: what was restored, from where, how it was checked
// and what was left (NIST SP 800-84 after-action fields and the city's
// needs). Its fields map one to one onto certs.DrillReport; times are in
// the configured zone (RFC 3339 in JSON).
type Record struct {
	Schema         string `json:"schema"`
	DrillID        string `json:"drill_id"`
	Contract       string `json:"contract"`
	RunbookVersion string `json:"runbook_version"`
	// Trigger is TriggerSchedule or TriggerOperator; Operator is who ran
	// Steward, Participants who took part (--participant).
	Trigger      string   `json:"trigger"`
	Operator     string   `json:"operator"`
	Participants []string `json:"participants"`

	Job        string `json:"job"`
	Source     string `json:"source"`
	SourceKind string `json:"source_kind"`
	Repository string `json:"repository"`
	// RepositoryResidency is the residency answer for the repository.
	RepositoryResidency string `json:"repository_residency"`
	// SnapshotChoice is how the snapshot was chosen: latest, random or an id.
	SnapshotChoice string    `json:"snapshot_choice"`
	SnapshotID     string    `json:"snapshot_id"`
	SnapshotTime   time.Time `json:"snapshot_time,omitzero"`
	Manifest       Manifest  `json:"manifest"`

	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished,omitzero"`

	Steps  []Step  `json:"steps"`
	Checks []Check `json:"checks"`
	// RTO is drill start → data restored and verified; RPO the
	// snapshot's age when the drill started.
	RTO Objective `json:"rto"`
	RPO Objective `json:"rpo"`
	// ReadDataSubset is the part of the repository read this drill.
	ReadDataSubset Subset   `json:"read_data_subset"`
	Deviations     []string `json:"deviations"`

	// Scratch lists the scratch copies, recorded before they were made.
	Scratch []Scratch `json:"scratch"`
	Cleanup Step      `json:"cleanup"`
	// Leftovers are scratch copies of earlier, crashed drills that this
	// drill found and removed before it started.
	Leftovers []Scratch `json:"leftovers_removed,omitempty"`

	// Result is "" while running, then passed, failed or interrupted.
	Result string `json:"result"`
	// Problems lists why the drill did not pass.
	Problems []string `json:"problems,omitempty"`
}

// Manifest says which backup-time manifest the drill checked against.
type Manifest struct {
	// Origin is "catalog" or "repository" (the companion snapshot).
	Origin string `json:"origin"`
	SHA256 string `json:"sha256"`
	Format string `json:"format"`
	Count  int64  `json:"count"`
	Bytes  int64  `json:"bytes"`
}

// Step is one step as executed.
type Step struct {
	Name     string    `json:"name"`
	Started  time.Time `json:"started,omitzero"`
	Finished time.Time `json:"finished,omitzero"`
	Result   string    `json:"result"`
	Detail   string    `json:"detail,omitempty"`
}

// Check compares what was restored with what the manifest (or a target)
// says.
type Check struct {
	Name     string `json:"name"`
	Expected string `json:"expected"`
	Actual   string `json:"actual"`
	Result   string `json:"result"`
	// Detail names the files, tables or objects that differ (at most
	// maxNamed of them).
	Detail string `json:"detail,omitempty"`
}

// Objective is a measured time against its target.
type Objective struct {
	Actual time.Duration `json:"actual_ns"`
	Target time.Duration `json:"target_ns"`
	Met    bool          `json:"met"`
}

func objective(actual, target time.Duration) Objective {
	return Objective{Actual: actual, Target: target, Met: target > 0 && actual <= target}
}

// Subset is K of N (restic check --read-data-subset K/N).
type Subset struct {
	K int `json:"k"`
	N int `json:"n"`
}

func (s Subset) String() string { return fmt.Sprintf("%d/%d", s.K, s.N) }

// Scratch kinds.
const (
	ScratchDir      = "dir"
	ScratchDatabase = "database"
	ScratchBucket   = "bucket"
)

// Scratch is one scratch copy: recorded before it is created, removed
// and checked gone by listing at the end.
type Scratch struct {
	Kind string `json:"kind"`
	// Name is the dir path, database name or bucket name.
	Name string `json:"name"`
	// Location is the server (host:port) for a database or bucket.
	Location string `json:"location,omitempty"`
	Removed  bool   `json:"removed"`
	// Gone is true once a listing showed it no longer exists.
	Gone   bool   `json:"gone"`
	Detail string `json:"detail,omitempty"`
	// Drill is, for a leftover removed after a crash, the id of the
	// drill that made it.
	Drill string `json:"drill,omitempty"`
}

// Point is one drill in the RTO/RPO history (certs.DrillPoint).
type Point struct {
	DrillID string        `json:"drill_id"`
	Job     string        `json:"job"`
	Source  string        `json:"source"`
	Time    time.Time     `json:"time"`
	RTO     time.Duration `json:"rto_ns"`
	RPO     time.Duration `json:"rpo_ns"`
	Result  string        `json:"result"`
}

// Verified reports whether the drill restored the data and verified it:
// only then was its RTO measured (before, its RTO's actual is the time
// until it stopped).
func (r *Record) Verified() bool {
	for _, s := range r.Steps {
		if s.Name == StepVerify && s.Result == ResultPassed {
			return true
		}
	}
	return false
}

// problems lists why the record did not pass (empty when it did).
func (r *Record) problems() []string {
	var out []string
	for _, s := range r.Steps {
		if s.Result == ResultFailed {
			out = append(out, "step "+s.Name+" failed: "+s.Detail)
		}
	}
	for _, c := range r.Checks {
		if c.Result != ResultPassed {
			msg := fmt.Sprintf("check %s failed: expected %s, got %s", c.Name, c.Expected, c.Actual)
			if c.Detail != "" {
				msg += " (" + c.Detail + ")"
			}
			out = append(out, msg)
		}
	}
	if r.Cleanup.Result != ResultPassed {
		out = append(out, "cleanup "+r.Cleanup.Result+": "+r.Cleanup.Detail)
	}
	out = append(out, r.Deviations...)
	return out
}
