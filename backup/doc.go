// Package backup is Steward's backup capability: it creates restic
// repositories whose passwords nobody sees, checks data residency before
// any byte is written (req 2), backs up path, PostgreSQL and S3 sources
// into a job's primary repository with a manifest of what each snapshot
// holds, copies every new snapshot to the job's replicas (req 18), applies
// the job's retention and records every run in the catalog and the audit
// log (req 14).
//
//	repos := repo.New(repo.Deps{Config: cfg, Keys: kr, Restic: runner, Audit: log})
//	err := repos.Init(ctx, "tokyo")  // repositories are created and opened by internal/repo
//	e := backup.New(backup.Deps{Config: cfg, Keys: kr, Restic: runner, Catalog: store, Audit: log, Clock: clk, Repos: repos})
//	rep, err := e.Run(ctx, backup.RunOptions{Job: "nightly", Progress: func(ev progress.Event) { … }})
//	snaps, err := e.Snapshots(ctx, "nightly")
//
// # What a snapshot carries
//
// Every data snapshot is tagged steward, steward-data, job:<job>,
// source:<source> and run:<run id>, with host "steward". Its manifest
// (file names, sizes and SHA-256; tables with row counts and checksums; or
// object keys, sizes and SHA-256) is stored in the catalog and, as a small
// companion snapshot tagged steward-manifest and the same run:<id>, in the
// repository itself, so that a repository alone can be drilled. An
// unchanged path source writes no new companion: its data snapshot names
// the existing one with the tag manifest:<id> (docs/backup.md says how a
// drill finds a snapshot's manifest).
//
// # Safety
//
// A run holds a file lock per repository in <state_dir>/locks, so two
// Steward processes never write one repository at once. A source that
// fails mid-stream interrupts restic before its input ends (restic would
// otherwise save what it had), and the run then checks that no snapshot
// carrying its run id exists. A run killed outright is marked interrupted
// by the next run, which also removes any snapshot it left and stale
// restic locks (`restic unlock`, never --remove-all), auditing both.
//
// See docs/backup.md for the operator's view.
package backup
