package certs

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"iter"
	"testing"
	"time"

	"steward/internal/clock"
)

var tokyo = mustZone("Asia/Tokyo")

func mustZone(name string) *time.Location {
	loc, err := clock.LoadZone(name)
	if err != nil {
		panic(err)
	}
	return loc
}

// at is a fixed time on the contract's last day, in Tokyo.
func at(hour, minute int) time.Time {
	return time.Date(2027, 3, 31, hour, minute, 0, 0, tokyo)
}

// fixtureEvidence is an erasure of every kind of target; withException
// makes one target fail its verification.
func fixtureEvidence(t testing.TB, withException bool) *Evidence {
	t.Helper()
	ev := &Evidence{
		Schema:        EvidenceSchema,
		CertificateID: "DEL-2027-0001",
		Issued:        at(18, 0),
		Issuer:        Issuer{Organisation: "株式会社サンプル運用", Signer: "運用責任者 山田太郎"},
		Contract:      Contract{ID: "K-2024-017", Customer: "サンプル市 こども家庭課", Service: "児童相談システム", EndDate: "2027-03-31"},
		Clock: ClockState{Zone: "Asia/Tokyo", Sync: clock.SyncStatus{
			State: clock.Synchronised, MaxError: 1500 * time.Microsecond, Source: "chronyc"}},
		AuditHead: AuditHead{Seq: 48213, Hash: "9f2c1e0b7a4d3c2b1a09f8e7d6c5b4a39281706f5e4d3c2b1a0918273645f5e4"},
		Operator:  "sato",
		Approver:  "suzuki",
		PlanID:    "PLAN-2027-03-28-01",
		Targets: []Target{
			{ID: "t1", Kind: KindRepositoryS3, Name: "primary-repo", Location: "s3://backup.example.jp/steward/k-2024-017", Region: "ap-northeast-1",
				Before: Counts{Objects: 1204, Versions: 1311, Bytes: 52_428_800_000}, Method: MethodCryptoErase, NIST: NISTPurge,
				Started: at(10, 0), Finished: at(10, 1),
				Verification: Verification{Method: "repository key files absent; restic cat config fails with every destroyed key", Result: ResultPassed}},
			{ID: "t2", Kind: KindS3Bucket, Name: "case-files", Location: "s3://s3.example.jp/case-files", Region: "ap-northeast-1",
				Before: Counts{Objects: 3, Versions: 4, DeleteMarkers: 1, UnfinishedUploads: 1, Bytes: 123456}, Method: MethodLogicalDelete, NIST: NISTClear,
				Started: at(10, 5), Finished: at(10, 9),
				Verification: Verification{Method: "ListObjectVersions and ListMultipartUploads return nothing; bucket absent", Result: ResultPassed}},
			{ID: "t3", Kind: KindPostgres, Name: "consult", Location: "db.internal:5432/consult", Region: "ap-northeast-1",
				Before: Counts{Tables: 42, Bytes: 734_003_200}, Method: MethodLogicalDelete, NIST: NISTClear,
				Started: at(10, 10), Finished: at(10, 12),
				Verification: Verification{Method: "pg_database has no row named consult", Result: ResultPassed}},
			{ID: "t4", Kind: KindCache, Name: "restic cache", Location: "/var/lib/steward/cache", Before: Counts{Files: 310, Bytes: 9_000_000},
				Method: MethodLogicalDelete, NIST: NISTClear, Started: at(10, 13), Finished: at(10, 13),
				Verification: Verification{Method: "directory absent", Result: ResultPassed}},
		},
		Accounts: []Account{
			{Kind: "storage_access_key", Name: "steward-backup", Location: "s3.example.jp", Revoked: at(10, 20),
				Verification: Verification{Method: "authentication refused", Result: ResultPassed}},
			{Kind: "database_role", Name: "steward_backup", Location: "db.internal:5432", Revoked: at(10, 21),
				Verification: Verification{Method: "pg_roles has no such role", Result: ResultPassed}},
		},
		Attestations: []Attestation{
			{Title: "Media sanitisation attestation (NIST SP 800-88)", Issuer: "Example Cloud K.K.", Date: "2027-03-15", Reference: "EC-DISP-2031-0042"},
			{Title: "ISMAP audit report", Issuer: "Example Audit LLC", Date: "2026-11-30"},
		},
		Objects: fakeObjects(map[string]int{"t1": 5, "t2": 4}),
	}
	if withException {
		ev.Targets = append(ev.Targets, Target{ID: "t5", Kind: KindRepositoryLocal, Name: "replica-osaka", Location: "/mnt/replica/k-2024-017", Region: "ap-northeast-3",
			Before: Counts{Files: 880, Bytes: 51_000_000_000}, Method: MethodLogicalDelete, NIST: NISTClear, Started: at(10, 30), Finished: at(10, 40),
			Verification: Verification{Method: "directory absent", Result: ResultFailed, Detail: "2 pack files remain (read-only mount)"},
			Exception:    "replica disk mounted read-only; 2 pack files could not be deleted (their repository key was destroyed)"})
	}
	return ev
}

// fakeObjects yields n objects per target, deterministically.
func fakeObjects(n map[string]int) iter.Seq2[Object, error] {
	return func(yield func(Object, error) bool) {
		for _, target := range []string{"t1", "t2", "t3", "t4", "t5"} {
			for i := range n[target] {
				sum := sha256.Sum256(fmt.Appendf(nil, "%s/key-%d", target, i))
				v := sha256.Sum256(fmt.Appendf(nil, "v%d", i))
				if !yield(Object{Target: target, KeySHA256: hex.EncodeToString(sum[:]), VersionID: hex.EncodeToString(v[:12]), Size: int64(1000 + i%5000)}, nil) {
					return
				}
			}
		}
	}
}

func fixtureDrill(t *testing.T) *DrillReport {
	t.Helper()
	day := func(d int) time.Time { return time.Date(2027, 1, d, 3, 0, 0, 0, tokyo) }
	return &DrillReport{
		DrillID: "DRILL-2027-01-15", Contract: "K-2024-017", RunbookVersion: "runbook v3 (2026-10-01)",
		Trigger: "schedule (quarterly)", Participants: []string{"sato", "suzuki"},
		Job: "nightly-db", SourceKind: "postgres", Source: "consult", Repository: "primary-repo",
		SnapshotID: "4f1c2b9a", SnapshotTime: day(15).Add(-5 * time.Hour),
		Started: day(15), Finished: day(15).Add(23 * time.Minute),
		Steps: []DrillStep{
			{Name: "restore", Started: day(15), Finished: day(15).Add(14 * time.Minute), Result: ResultPassed},
			{Name: "verify manifest", Started: day(15).Add(14 * time.Minute), Finished: day(15).Add(18 * time.Minute), Result: ResultPassed},
			{Name: "check 3/12", Started: day(15).Add(18 * time.Minute), Finished: day(15).Add(22 * time.Minute), Result: ResultPassed},
		},
		Checks: []DrillCheck{
			{Name: "table count", Expected: "42", Actual: "42", Result: ResultPassed},
			{Name: "rows cases", Expected: "18,204", Actual: "18,204", Result: ResultPassed},
			{Name: "checksum cases", Expected: "9c1e…41d0", Actual: "9c1e…41d0", Result: ResultPassed},
		},
		RTO:            Objective{Actual: 18 * time.Minute, Target: 60 * time.Minute, Measured: true, Met: true},
		RPO:            Objective{Actual: 5 * time.Hour, Target: 24 * time.Hour, Measured: true, Met: true},
		Result:         ResultPassed,
		ReadDataSubset: Subset{K: 3, N: 12},
		Cleanup:        DrillStep{Name: "cleanup", Started: day(15).Add(22 * time.Minute), Finished: day(15).Add(23 * time.Minute), Result: ResultPassed, Detail: "scratch database dropped"},
		History: []DrillPoint{
			{DrillID: "DRILL-2026-04-15", Time: day(15).AddDate(0, -9, 0), RTO: 25 * time.Minute, RPO: 7 * time.Hour, Result: ResultPassed},
			{DrillID: "DRILL-2026-07-15", Time: day(15).AddDate(0, -6, 0), RTO: 21 * time.Minute, RPO: 20 * time.Hour, Result: ResultPassed},
			{DrillID: "DRILL-2026-10-15", Time: day(15).AddDate(0, -3, 0), RTO: 31 * time.Minute, RPO: 3 * time.Hour, Result: ResultPassed},
		},
	}
}

func fixtureCapacity(t *testing.T) *CapacityReport {
	t.Helper()
	vol := func(start, perDay int64) []VolumePoint {
		var out []VolumePoint
		for d := 1; d <= 31; d++ {
			out = append(out, VolumePoint{Date: fmt.Sprintf("2027-01-%02d", d), Bytes: (start + perDay*int64(d)) << 20})
		}
		return out
	}
	d := fixtureDrill(t)
	return &CapacityReport{
		Month: "2027-01", Contract: "K-2024-017",
		Sources: []SourceCapacity{
			{Name: "consult", Kind: "postgres", Volume: vol(700, 3),
				Backups: BackupStats{Runs: 31, Failed: 1, Mean: 6 * time.Minute, Max: 9 * time.Minute, Bytes: 31 * 750 << 20, Total: 31 * 6 * time.Minute}},
			{Name: "case-files", Kind: "s3", Volume: vol(2000, 25),
				Backups: BackupStats{Runs: 31, Mean: 11 * time.Minute, Max: 15 * time.Minute, Bytes: 31 * 2400 << 20, Total: 31 * 11 * time.Minute}},
		},
		Repositories: []RepositoryCapacity{
			{Name: "primary-repo", Location: "s3://backup.example.jp/steward", Region: "ap-northeast-1", Roles: []string{"primary"},
				Stored: &StoredNow{At: at(19, 29), Snapshots: 124, DataSnapshots: 62, Bytes: 2080 << 20, UncompressedBytes: 3100 << 20}, Added: vol(0, 9)},
			{Name: "replica-osaka", Location: "s3://backup-osaka.example.jp/steward", Region: "ap-northeast-3", Roles: []string{"replica"},
				Stored: &StoredNow{At: at(19, 29), Snapshots: 124, DataSnapshots: 62, Bytes: 2080 << 20, UncompressedBytes: 3100 << 20}},
		},
		Drills: append(d.History,
			DrillPoint{DrillID: "DRILL-2027-01-08", Time: d.Started.AddDate(0, 0, -7), RTO: 4 * time.Second, RPO: 6 * time.Hour, Result: ResultFailed},
			DrillPoint{DrillID: d.DrillID, Time: d.Started, RTO: d.RTO.Actual, RPO: d.RPO.Actual, Result: ResultPassed}),
	}
}
