package backup

import (
	"context"
	"encoding/json"
	"sort"
	"time"

	"steward/internal/catalog"
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

// RepositoryCapacity is one repository's month: data added by Steward's
// backups, accumulated from the first run recorded (before pruning: an
// upper bound of what the repository stores), and its snapshot count.
type RepositoryCapacity struct {
	Name      string      `json:"name"`
	Kind      string      `json:"kind"`
	Region    string      `json:"region"`
	Snapshots int         `json:"snapshots"`
	Volume    []DayVolume `json:"volume"`
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

// Capacity summarises the runs that started in [from, to). Days are dates
// in loc.
func (e *Engine) Capacity(ctx context.Context, store CapacityStore, from, to time.Time) (*Capacity, error) {
	loc := e.clock.Location()
	before, err := store.RunsStartedBetween(ctx, time.Time{}, from)
	if err != nil {
		return nil, err
	}
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
	repoSnaps := map[string]int{}
	for _, r := range before {
		if rec, ok := decodeRun(r); ok && rec.Result == ResultOK {
			repoAdded[r.Repository] += rec.DataAdded
			repoSnaps[r.Repository]++
		}
	}
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
		repoSnaps[r.Repository]++
		repoDay[dayKey{r.Repository, day}] = repoAdded[r.Repository]
	}
	out := &Capacity{}
	for _, sc := range sources {
		sc.Volume = series(srcDay, sc.Name)
		out.Sources = append(out.Sources, *sc)
	}
	for _, r := range e.cfg.Repositories {
		rc := RepositoryCapacity{Name: r.Name, Kind: r.Kind(), Region: "local (operator-attested)", Snapshots: repoSnaps[r.Name], Volume: series(repoDay, r.Name)}
		if r.S3 != nil {
			rc.Region = r.S3.Region
		}
		out.Repositories = append(out.Repositories, rc)
	}
	return out, nil
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
