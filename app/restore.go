package app

import (
	"context"
	"errors"
	"path/filepath"
	"strings"

	"steward/internal/config"
	"steward/internal/errs"
	"steward/restore"
)

// RestoreRequest is what an operator asks a restore for, as names: the
// job and source, the snapshot, and exactly one target (a directory, a
// database on the source's server, a bucket on the source's endpoint) or
// the live source itself.
type RestoreRequest struct {
	Job, Source, Snapshot string
	// Repository restores from a replica instead of the primary.
	Repository               string
	To, ToDatabase, ToBucket string
	Force, IntoSource        bool
	Confirm                  string
}

// Check checks the target flags before any work starts.
func (q RestoreRequest) Check() error {
	n := 0
	for _, s := range []string{q.To, q.ToDatabase, q.ToBucket} {
		if s != "" {
			n++
		}
	}
	switch {
	case q.IntoSource && n > 0:
		return errs.Usage("--into-source restores into the source itself: give no --to, --to-database or --to-bucket")
	case !q.IntoSource && n != 1:
		return errs.Usage("give exactly one of --to DIR, --to-database NAME or --to-bucket NAME (or --into-source)")
	case q.Confirm != "" && !q.IntoSource:
		return errs.Usage("--confirm is only for --into-source")
	}
	return nil
}

// RestoreOptions turns q into the restorer's options: the job and source
// are found, and a database or bucket target is derived from the source's
// own connection (same server and credentials, another name).
func (a *App) RestoreOptions(ctx context.Context, r *restore.Restorer, q RestoreRequest) (restore.Options, *config.Source, error) {
	job, err := a.Config.FindJob(q.Job)
	if err != nil {
		return restore.Options{}, nil, errs.AsUsage(err)
	}
	srcName := q.Source
	if srcName == "" && len(job.Sources) == 1 {
		srcName = job.Sources[0]
	}
	src, ok := a.Config.Source(srcName)
	if !ok {
		return restore.Options{}, nil, errs.Usage("--source %q: job %q has sources %s", q.Source, job.Name, strings.Join(job.Sources, ", "))
	}
	ro := restore.Options{Job: job.Name, Source: src.Name, Snapshot: q.Snapshot, Repository: q.Repository, Force: q.Force, IntoSource: q.IntoSource, Confirm: q.Confirm}
	switch {
	case q.To != "":
		abs, err := filepath.Abs(q.To)
		if err != nil {
			return ro, nil, err
		}
		ro.To.Dir = abs
	case q.ToDatabase != "":
		if src.Postgres == nil {
			return ro, nil, errs.Usage("--to-database: source %q is not a PostgreSQL database", src.Name)
		}
		if ro.To, err = r.DatabaseTarget(src, q.ToDatabase); err != nil {
			return ro, nil, err
		}
	case q.ToBucket != "":
		if src.S3 == nil {
			return ro, nil, errs.Usage("--to-bucket: source %q is not a bucket", src.Name)
		}
		live, err := r.SourceTarget(src)
		if err != nil {
			return ro, nil, err
		}
		t := *live.Bucket
		t.Bucket, t.Prefix = q.ToBucket, ""
		ro.To.Bucket = &t
	}
	return ro, src, nil
}

// IsRestoreUsage reports restore errors that are the operator's to fix
// (exit 2): a non-empty or live target, a missing confirmation, a bad
// target or snapshot, an unknown job.
func IsRestoreUsage(err error) bool {
	return errors.Is(err, restore.ErrNotEmpty) || errors.Is(err, restore.ErrIntoSource) || errors.Is(err, restore.ErrConfirmation) ||
		errors.Is(err, restore.ErrBadTarget) || errors.Is(err, restore.ErrNoSnapshot) || errors.Is(err, restore.ErrBadRepository) ||
		errors.Is(err, config.ErrNoJob)
}
