package crash

// The crash points. A point named in List and passed to Point is reached
// as is; a point passed to At is reached as "<name>:<detail>" (the erase
// steps and their targets).
const (
	// BackupSnapshotSaved: restic saved a source's snapshot; the catalog
	// has not recorded it (no manifest, no snapshot row, run still
	// running).
	BackupSnapshotSaved = "backup.snapshot-saved"
	// BackupManifestStored: the manifest is in the catalog and the
	// repository; no replica has a copy yet.
	BackupManifestStored = "backup.manifest-stored"
	// BackupReplicasCopied: every replica has the copy and the catalog the
	// snapshot row; the run is not recorded as finished.
	BackupReplicasCopied = "backup.replicas-copied"
	// BackupRetention: retention has forgotten and pruned in one
	// repository, not yet in the next.
	BackupRetention = "backup.retention"
	// BackupRunStarted: a source's run is recorded as started (catalog and
	// audit log); restic has not started. The daemon's scheduler reaches
	// it for a scheduled backup.
	BackupRunStarted = "backup.run-started"
	// DrillRestored: the snapshot is restored into scratch; not verified.
	DrillRestored = "drill.restored"
	// DrillVerified: the restore is verified (and the read-data subset
	// read); the scratch copy is not removed.
	DrillVerified = "drill.verified"
	// RestoreWritten: the data is in the restore target; the restore is
	// not recorded as done.
	RestoreWritten = "restore.written"
	// RecoveryEscrowAdded: the escrow keys are added to every
	// repository; the kit file is not written.
	RecoveryEscrowAdded = "recovery.escrow-added"
	// CertsPDFWritten: a signed PDF (a deletion certificate, a report) is
	// filed; its audit record and report anchor are not written.
	CertsPDFWritten = "certs.pdf-written"
	// EraseStep, with the step's name: the step's journal entry says it
	// started; the step has done nothing.
	EraseStep = "erase.step"
	// EraseTarget, with the step's name: one target of the step is done
	// and its evidence saved; the next target is not started.
	EraseTarget = "erase.target"
)

// eraseSteps are erase's journaled steps (erase.Steps; the crash suite
// checks that the two agree) and targetSteps those that work target by
// target.
var (
	eraseSteps  = []string{"inventory", "freeze", "crypto-erase", "logical-deletion", "credentials", "catalog-purge", "verify", "master-key", "certificate"}
	targetSteps = []string{"crypto-erase", "logical-deletion", "credentials", "catalog-purge", "master-key"}
)

// List returns every crash point, as STEWARD_CRASH_AT names it.
func List() []string {
	l := []string{BackupRunStarted, BackupSnapshotSaved, BackupManifestStored, BackupReplicasCopied, BackupRetention,
		DrillRestored, DrillVerified, RestoreWritten, RecoveryEscrowAdded, CertsPDFWritten}
	for _, s := range eraseSteps {
		l = append(l, EraseStep+":"+s)
	}
	for _, s := range targetSteps {
		l = append(l, EraseTarget+":"+s)
	}
	return l
}
