// Package app is Steward's one builder: it loads the config, opens the
// state dir (catalog, master key, audit log, clock, logger) and constructs
// the capabilities — backup, restore, drills, reports — over it. Every CLI
// command goes through it, and so will `steward serve`, so that the two
// can never be wired differently. It also holds the work that spans
// capabilities or that more than one front end needs: creating a state
// dir (with rollback), gathering status, mapping a drill record onto its
// signed report, the capacity report's figures, filtering audit exports
// and deriving restore targets.
//
// app may import every capability; no capability and nothing under
// internal/ imports app (internal/archtest holds this).
//
//	a, err := app.Open(ctx, app.Options{ConfigPath: "steward.yaml"})
//	defer a.Close()
//	eng, err := a.Backup(ctx)
//	rep, err := eng.Run(ctx, backup.RunOptions{Job: "nightly"})
package app
