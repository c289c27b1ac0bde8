package app

import (
	"fmt"
	"strings"

	"steward/backup"
	"steward/drills"
	"steward/internal/clock"
	"steward/internal/notify"
)

// The alerts below turn what a run returned into what an operator is told
// (req 7, 12); serve sends them through App.Notifier. Each says false when
// nothing needs telling.

// BackupAlert is the alert for a backup of job that failed: err from
// backup.Engine.Run, or a run in rep whose result is not ok.
func BackupAlert(job string, rep *backup.Report, err error) (notify.Alert, bool) {
	var failed []string
	if rep != nil {
		for _, r := range rep.Runs {
			if r.Result != backup.ResultOK && r.Result != backup.ResultChecked {
				failed = append(failed, fmt.Sprintf("source %s into %s: %s %s", r.Source, r.Repository, r.Result, r.Error))
			}
		}
	}
	if err == nil && len(failed) == 0 {
		return notify.Alert{}, false
	}
	if err != nil {
		failed = append(failed, err.Error())
	}
	return notify.Alert{Kind: notify.KindBackupFailed, Severity: notify.SeverityCritical, Job: job,
		Subject: "backup of job " + job + " failed", Detail: strings.Join(failed, "\n")}, true
}

// DrillAlert is the alert for drills that did not pass (err from
// drills.Driller.Run, or a record whose result is not passed).
func DrillAlert(job string, recs []*drills.Record, err error) (notify.Alert, bool) {
	var failed []string
	for _, r := range recs {
		if r.Result != drills.ResultPassed {
			failed = append(failed, fmt.Sprintf("drill %s of %s from %s: %s %s", r.DrillID, r.Source, r.Repository, r.Result, strings.Join(r.Problems, "; ")))
		}
	}
	if err == nil && len(failed) == 0 {
		return notify.Alert{}, false
	}
	if err != nil {
		failed = append(failed, err.Error())
	}
	return notify.Alert{Kind: notify.KindDrillFailed, Severity: notify.SeverityCritical, Job: job,
		Subject: "restore drill of job " + job + " failed", Detail: strings.Join(failed, "\n")}, true
}

// CheckAlert is the alert for a repository check that failed or could not
// run.
func CheckAlert(repository string, res *drills.CheckResult, err error) (notify.Alert, bool) {
	if err == nil && res != nil && res.Result == drills.ResultPassed {
		return notify.Alert{}, false
	}
	detail := ""
	switch {
	case err != nil:
		detail = err.Error()
	case res != nil:
		detail = res.Detail
	default:
		return notify.Alert{}, false
	}
	return notify.Alert{Kind: notify.KindCheckFailed, Severity: notify.SeverityCritical,
		Subject: "check of repository " + repository + " failed", Detail: detail}, true
}

// ClockAlert is the alert for a clock that is not synchronised (req 15).
func ClockAlert(s clock.SyncStatus) (notify.Alert, bool) {
	if s.State != clock.Unsynchronised {
		return notify.Alert{}, false
	}
	return notify.Alert{Kind: notify.KindClockUnsynced, Severity: notify.SeverityWarning,
		Subject: "the system clock is not synchronised", Detail: s.String() + ": Steward's times are evidence; synchronise it (chrony or systemd-timesyncd)"}, true
}

// MissedScheduleAlert is the alert for a scheduled run that did not run
// on time (what names it, e.g. "backup of job nightly").
func MissedScheduleAlert(job, what string, due string) notify.Alert {
	return notify.Alert{Kind: notify.KindMissedSchedule, Severity: notify.SeverityWarning, Job: job,
		Subject: what + " missed its schedule", Detail: "it was due at " + due}
}

// ContractEndAlert is the alert for a contract ending within days.
func ContractEndAlert(contract string, endDate string, days int) notify.Alert {
	return notify.Alert{Kind: notify.KindContractEnd, Severity: notify.SeverityWarning,
		Subject: fmt.Sprintf("contract %s ends on %s (%d days)", contract, endDate, days),
		Detail:  "plan the hand-over and the erasure (req 23)"}
}

// EraseStepAlert tells of one erase step: started, finished or failed.
func EraseStepAlert(planID, step, result string, err error) notify.Alert {
	a := notify.Alert{Kind: notify.KindEraseStep, Severity: notify.SeverityInfo,
		Subject: fmt.Sprintf("erase plan %s: step %s %s", planID, step, result)}
	if err != nil || result == "failed" {
		a.Severity = notify.SeverityCritical
		if err != nil {
			a.Detail = err.Error()
		}
	}
	return a
}
