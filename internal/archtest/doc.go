// Package archtest holds Steward's layering as tests, so that the picture
// in docs/architecture.md cannot drift: the dependencies fan out from the
// CLI (cmd/steward) to the builder (app), to the capabilities (backup,
// restore, drills, erase, certs, recovery), to the shared machinery under
// internal/;
// capabilities import each other only where the design allows (drills →
// restore, erase → certs); only internal/objstore builds an S3 client and
// only internal/pgsql creates or drops databases and roles; only
// internal/crash kills its own process (crash points, test builds only).
package archtest
