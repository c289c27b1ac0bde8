// Package recovery brings Steward back when its host is lost: Rebuild
// fills a new state dir's catalog from the repositories themselves
// (snapshots, manifests, run links), so that `snapshots`, drills and
// backups work again (docs/runbook-restore.md).
package recovery
