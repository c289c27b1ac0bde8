// Package schedule runs Steward's periodic work on gocron v2: plain
// func(ctx) error jobs on cron schedules in the contract's time zone, each
// one never overlapping itself, a run missed while the daemon was down run
// once at start, and a shutdown that cancels running work and waits for it
// up to a deadline. It knows nothing of backups or drills: the app builds
// the jobs.
package schedule
