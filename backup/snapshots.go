package backup

import (
	"context"
	"slices"
	"steward/internal/resticx"
	"time"
)

// SnapshotInfo is one data snapshot of a job, as `steward snapshots`
// lists it.
type SnapshotInfo struct {
	ID         string `json:"id"`
	ShortID    string `json:"short_id"`
	Source     string `json:"source"`
	Repository string `json:"repository"`
	// Time is in the configured zone.
	Time  time.Time `json:"time"`
	Bytes int64     `json:"bytes"`
	// Files is restic's count of regular files in the snapshot (one for
	// a database dump or a bucket's archive).
	Files int64  `json:"files"`
	RunID string `json:"run_id"`
	// Replicas are the replica repositories holding a copy.
	Replicas []string `json:"replicas"`
}

// SnapshotList is a job's snapshots; Problems names replicas that could
// not be read (their column may then be incomplete).
type SnapshotList struct {
	Job       string         `json:"job"`
	Snapshots []SnapshotInfo `json:"snapshots"`
	Problems  []string       `json:"problems,omitempty"`
}

// Snapshots lists a job's data snapshots in its primary repository, newest
// first, with the replicas that hold a copy, asking the repositories
// themselves (not the catalog).
func (e *Engine) Snapshots(ctx context.Context, jobName string) (*SnapshotList, error) {
	job, err := e.job(jobName)
	if err != nil {
		return nil, err
	}
	primary, err := e.repos.Resolve(job.Repository, true)
	if err != nil {
		return nil, err
	}
	if err := e.repos.CheckResidency(ctx, primary); err != nil {
		return nil, err
	}
	tags := TagData + ",job:" + job.Name
	snaps, err := e.listSnapshots(ctx, primary, tags)
	if err != nil {
		return nil, err
	}
	out := &SnapshotList{Job: job.Name}
	index := map[string]int{}
	for _, s := range snaps {
		info := SnapshotInfo{ID: s.ID, ShortID: s.ShortID, Source: s.TagValue("source:"), Repository: primary.Name(),
			Time: s.Time.In(e.clock.Location()), RunID: s.TagValue("run:"), Replicas: []string{}}
		if s.Summary != nil {
			info.Bytes, info.Files = s.Summary.TotalBytesProcessed, s.Summary.TotalFilesProcessed
		}
		index[s.ID] = len(out.Snapshots)
		out.Snapshots = append(out.Snapshots, info)
	}
	for _, name := range job.Replicas {
		r, err := e.repos.Resolve(name, true)
		if err == nil {
			err = e.repos.CheckResidency(ctx, r)
		}
		var copies []resticx.Snapshot
		if err == nil {
			copies, err = e.listSnapshots(ctx, r, tags)
		}
		if err != nil {
			out.Problems = append(out.Problems, "replica "+name+": "+errText(err))
			continue
		}
		for _, c := range copies {
			orig := c.Original
			if orig == "" {
				orig = c.ID
			}
			if i, ok := index[orig]; ok {
				out.Snapshots[i].Replicas = append(out.Snapshots[i].Replicas, name)
			}
		}
	}
	slices.SortFunc(out.Snapshots, func(a, b SnapshotInfo) int { return b.Time.Compare(a.Time) })
	return out, nil
}
