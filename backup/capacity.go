package backup

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"time"

	"steward/internal/catalog"
	"steward/internal/resticx"
)

// DayVolume is a day's figure (YYYY-MM-DD in the configured zone).
type DayVolume struct {
	Date  string `json:"date"`
	Bytes int64  `json:"bytes"`
}

// SourceCapacity is one source's month: the data volume each day (bytes
// read by that day's last successful backup, i.e. the source's size), and
// its backup runs.
type SourceCapacity struct {
	Name      string          `json:"name"`
	Kind      string          `json:"kind"`
	Volume    []DayVolume     `json:"volume"`
	Runs      int             `json:"runs"`
	Failed    int             `json:"failed"`
	Durations []time.Duration `json:"durations_ns"`
	BytesRead int64           `json:"bytes_read"`
}

// RepositoryCapacity is one repository: what it holds now, read from the
// repository itself when the report is made (Stored; Unreadable says why
// not), and the data the month's backups added to it (Added).
type RepositoryCapacity struct {
	Name   string `json:"name"`
	Kind   string `json:"kind"`
	Region string `json:"region"`
	// Roles are "primary" and/or "replica", from the jobs.
	Roles []string `json:"roles"`
	// Stored is nil when the repository could not be read.
	Stored     *Stored `json:"stored,omitempty"`
	Unreadable string  `json:"unreadable,omitempty"`
	// Added is, per day, the data the month's backups added (restic's
	// data_added), accumulated from the start of the month, from the run
	// records. Runs are recorded under their primary repository only, so
	// a replica's copies are not in it.
	Added []DayVolume `json:"added"`
}

// Stored is what a repository holds, as restic reports it.
type Stored struct {
	// At is when it was read.
	At time.Time `json:"at"`
	// Snapshots counts every snapshot (`restic snapshots`), Data those
	// tagged steward-data; the rest are their manifests.
	Snapshots int `json:"snapshots"`
	Data      int `json:"data_snapshots"`
	// Bytes is the size of the repository's data (`restic stats --mode
	// raw-data`: total_size, compressed), Uncompressed the same before
	// compression.
	Bytes        int64 `json:"bytes"`
	Uncompressed int64 `json:"uncompressed_bytes"`
}

// Capacity is the data behind the capacity and performance report (req 17).
type Capacity struct {
	Sources      []SourceCapacity     `json:"sources"`
	Repositories []RepositoryCapacity `json:"repositories"`
}

// CapacityStore is what Capacity reads.
type CapacityStore interface {
	RunsStartedBetween(ctx context.Context, from, to time.Time) ([]catalog.RunRow, error)
}

// Capacity summarises the runs that started in [from, to), and reads
// what each configured repository holds now (a repository that cannot be
// read is reported as such). Days are dates in the configured zone.
func (e *Engine) Capacity(ctx context.Context, store CapacityStore, from, to time.Time) (*Capacity, error) {
	loc := e.clock.Location()
	month, err := store.RunsStartedBetween(ctx, from, to)
	if err != nil {
		return nil, err
	}
	srcIdx := map[string]*SourceCapacity{}
	var sources []*SourceCapacity
	for _, s := range e.cfg.Sources {
		sc := &SourceCapacity{Name: s.Name, Kind: s.Kind()}
		srcIdx[s.Name] = sc
		sources = append(sources, sc)
	}
	repoAdded := map[string]int64{}
	srcDay := map[dayKey]int64{}
	repoDay := map[dayKey]int64{}
	for _, r := range month {
		rec, ok := decodeRun(r)
		if !ok || rec.DryRun {
			continue
		}
		sc := srcIdx[r.Source]
		if sc == nil { // a source since removed from the config
			sc = &SourceCapacity{Name: r.Source, Kind: rec.Kind}
			srcIdx[r.Source] = sc
			sources = append(sources, sc)
		}
		sc.Runs++
		if rec.Result != ResultOK {
			sc.Failed++
			continue
		}
		start, err1 := time.Parse(time.RFC3339Nano, rec.Started)
		end, err2 := time.Parse(time.RFC3339Nano, rec.Finished)
		if err1 == nil && err2 == nil && end.After(start) {
			sc.Durations = append(sc.Durations, end.Sub(start))
		}
		sc.BytesRead += rec.BytesRead
		day := start.In(loc).Format(time.DateOnly)
		srcDay[dayKey{r.Source, day}] = rec.BytesRead
		repoAdded[r.Repository] += rec.DataAdded
		repoDay[dayKey{r.Repository, day}] = repoAdded[r.Repository]
	}
	out := &Capacity{}
	for _, sc := range sources {
		sc.Volume = series(srcDay, sc.Name)
		out.Sources = append(out.Sources, *sc)
	}
	for _, r := range e.cfg.Repositories {
		rc := RepositoryCapacity{Name: r.Name, Kind: r.Kind(), Region: "local (operator-attested)", Roles: e.roles(r.Name), Added: series(repoDay, r.Name)}
		if r.S3 != nil {
			rc.Region = r.S3.Region
		}
		if rc.Stored, err = e.Stored(ctx, r.Name); err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			rc.Stored, rc.Unreadable = nil, errText(err)
		}
		out.Repositories = append(out.Repositories, rc)
	}
	return out, nil
}

// roles says whether repository name is a job's primary, a replica, or
// both.
func (e *Engine) roles(name string) []string {
	var primary, replica bool
	for _, j := range e.cfg.Jobs {
		primary = primary || j.Repository == name
		replica = replica || slices.Contains(j.Replicas, name)
	}
	roles := []string{}
	if primary {
		roles = append(roles, "primary")
	}
	if replica {
		roles = append(roles, "replica")
	}
	return roles
}

// Stored reads what repository name holds now, from restic: its
// snapshots and the size of its data. It opens the repository (residency
// check, probe) but takes no lock: it only reads.
func (e *Engine) Stored(ctx context.Context, name string) (*Stored, error) {
	r, err := e.repos.Open(ctx, name)
	if err != nil {
		return nil, err
	}
	st := &Stored{At: e.clock.Now()}
	snaps, err := e.listSnapshots(ctx, r, "")
	if err != nil {
		return nil, err
	}
	st.Snapshots = len(snaps)
	for _, s := range snaps {
		if s.HasTag(TagData) {
			st.Data++
		}
	}
	var buf bytes.Buffer
	if _, err := e.restic.Run(ctx, r.Restic, resticx.Call{Args: []string{"stats", "--no-lock", "--mode", "raw-data"}, Stdout: &buf}); err != nil {
		return nil, err
	}
	var stats struct {
		TotalSize             int64 `json:"total_size"`
		TotalUncompressedSize int64 `json:"total_uncompressed_size"`
	}
	if err := json.Unmarshal(buf.Bytes(), &stats); err != nil {
		return nil, fmt.Errorf("restic stats on %s: unexpected output: %w", name, err)
	}
	st.Bytes, st.Uncompressed = stats.TotalSize, stats.TotalUncompressedSize
	return st, nil
}

// dayKey is a source or repository name and a date.
type dayKey struct{ name, date string }

func series(m map[dayKey]int64, name string) []DayVolume {
	var out []DayVolume
	for k, v := range m {
		if k.name == name {
			out = append(out, DayVolume{Date: k.date, Bytes: v})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Date < out[j].Date })
	return out
}

func decodeRun(r catalog.RunRow) (RunRecord, bool) {
	var rec RunRecord
	if err := json.Unmarshal(r.Record, &rec); err != nil {
		return rec, false
	}
	return rec, true
}
