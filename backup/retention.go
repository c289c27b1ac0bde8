package backup

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"steward/internal/audit"
	"steward/internal/config"
	"steward/internal/crash"
	"steward/internal/repo"
	"steward/internal/resticx"
)

// keepFlags turns a job's retention into restic forget flags (none when
// the job keeps everything).
func keepFlags(r config.Retention) []string {
	var f []string
	add := func(flag string, n int) {
		if n > 0 {
			f = append(f, flag, strconv.Itoa(n))
		}
	}
	add("--keep-last", r.KeepLast)
	add("--keep-daily", r.KeepDaily)
	add("--keep-weekly", r.KeepWeekly)
	add("--keep-monthly", r.KeepMonthly)
	add("--keep-yearly", r.KeepYearly)
	if r.KeepWithin > 0 {
		h := int64((r.KeepWithin.D() + time.Hour - 1) / time.Hour)
		f = append(f, "--keep-within", strconv.FormatInt(h, 10)+"h")
	}
	return f
}

type forgetGroup struct {
	Keep   []resticx.Snapshot `json:"keep"`
	Remove []resticx.Snapshot `json:"remove"`
}

// applyRetention applies the job's keep policy to its data snapshots in r
// and forgets, with them, the manifest snapshots that only they used, then
// prunes. A data snapshot's manifest snapshot is its run's companion (the
// manifest snapshot with the same run:<id>) or, when an unchanged source
// reused an earlier manifest, the one its tag manifest:<id> names. Every
// kept data snapshot keeps its manifest snapshot either way. It returns a
// line for the report ("" when the job keeps all).
func (e *Engine) applyRetention(ctx context.Context, r *repo.Repo, job *config.Job) (string, error) {
	flags := keepFlags(job.Retention)
	if len(flags) == 0 {
		return "", nil
	}
	args := append([]string{"forget", "--dry-run", "--tag", TagData + ",job:" + job.Name, "--group-by", "host,paths"}, flags...)
	var buf bytes.Buffer
	err := e.repos.WithRetry(ctx, r, func() error {
		buf.Reset()
		_, err := e.restic.Run(ctx, r.Restic, resticx.Call{Args: args, Stdout: &buf})
		return err
	})
	if err != nil {
		return "", err
	}
	var groups []forgetGroup
	if len(bytes.TrimSpace(buf.Bytes())) == 0 {
		// restic prints nothing when no snapshot matches: nothing to forget.
		return "no snapshots of the job yet", nil
	}
	if err := json.Unmarshal(buf.Bytes(), &groups); err != nil {
		return "", fmt.Errorf("restic forget: unexpected output: %w", err)
	}
	var kept, dropped manifestRefs
	var ids []string
	for _, g := range groups {
		for _, s := range g.Keep {
			kept.add(s)
		}
		for _, s := range g.Remove {
			ids = append(ids, s.ID)
			dropped.add(s)
		}
	}
	if len(ids) == 0 {
		return "kept all snapshots", nil
	}
	data := len(ids)
	manifests, err := e.listSnapshots(ctx, r, TagManifest+",job:"+job.Name)
	if err != nil {
		return "", err
	}
	for _, s := range manifests {
		if dropped.uses(s) && !kept.uses(s) {
			ids = append(ids, s.ID)
		}
	}
	forget := append([]string{"forget", "--prune"}, ids...)
	err = e.repos.WithRetry(ctx, r, func() error { _, err := e.restic.Run(ctx, r.Restic, resticx.Call{Args: forget}); return err })
	details := map[string]string{"job": job.Name, "forgotten": strconv.Itoa(data)}
	if err != nil {
		details["error"] = errText(err)
		e.rec.Record(ctx, "backup.retention", "repository:"+r.Name(), audit.ResultFailed, details)
		return "", err
	}
	e.rec.Record(ctx, "backup.retention", "repository:"+r.Name(), audit.ResultOK, details)
	if e.store != nil {
		for _, id := range ids[:data] {
			_ = e.store.DeleteSnapshot(ctx, r.Name(), id)
		}
	}
	crash.Point(crash.BackupRetention)
	return fmt.Sprintf("forgot %d snapshot(s) and pruned", data), nil
}

// manifestRefs are the manifest snapshots a set of data snapshots use: by
// run (the companion carries the data snapshot's run:<id>) and by id (tag
// manifest:<id>).
type manifestRefs struct {
	runs, ids map[string]bool
}

func (m *manifestRefs) add(data resticx.Snapshot) {
	if m.runs == nil {
		m.runs, m.ids = map[string]bool{}, map[string]bool{}
	}
	if run := data.TagValue("run:"); run != "" {
		m.runs[run] = true
	}
	if ref := data.TagValue(TagManifestRef); ref != "" {
		m.ids[ref] = true
	}
}

// uses reports whether manifest snapshot s is one of them. Tags name
// snapshots by their id in the primary repository; in a replica that is
// the copy's original.
func (m *manifestRefs) uses(s resticx.Snapshot) bool {
	id := s.ID
	if s.Original != "" {
		id = s.Original
	}
	return m.runs[s.TagValue("run:")] || m.ids[id]
}
