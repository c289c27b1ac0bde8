// Package repo opens Steward's configured restic repositories: it
// resolves a repository's location and backend credentials, unseals its
// password (random, 256-bit, sealed by the master key under the state
// dir), checks that an S3 repository is in an allowed region (req 2),
// takes the file lock that keeps two Steward runs off it, and hands back
// what restic needs. It also creates repositories, removes stale restic
// locks, and names what erase must destroy: a repository's key files and
// its sealed password.
//
// backup, restore and drills reach repositories through it, never through
// each other.
//
//	o := repo.New(repo.Deps{Config: cfg, Keys: kr, Restic: runner, Audit: log})
//	r, err := o.Open(ctx, "tokyo")      // unsealed, residency-checked, probed
//	release, err := o.Lock(ctx, []string{"tokyo"})
//	_, err = runner.Run(ctx, r.Restic, resticx.Call{Args: []string{"check"}})
package repo
