package app

import (
	"errors"
	"strings"
	"testing"

	"steward/backup"
	"steward/internal/notify"
)

func TestBackupAlert(t *testing.T) {
	ok := &backup.Report{Runs: []backup.RunRecord{{Source: "docs", Repository: "tokyo", Result: backup.ResultOK}}}
	if _, send := BackupAlert("nightly", ok, nil); send {
		t.Fatal("an ok backup alerts")
	}
	failed := &backup.Report{Runs: []backup.RunRecord{{Source: "docs", Repository: "tokyo", Result: backup.ResultFailed, Error: "restic exited 1"}}}
	for _, tt := range []struct {
		name string
		rep  *backup.Report
		err  error
		want string
	}{
		{"failed run", failed, nil, "source docs into tokyo: failed restic exited 1"},
		{"error", nil, errors.New("repository tokyo is locked"), "repository tokyo is locked"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a, send := BackupAlert("nightly", tt.rep, tt.err)
			if !send || a.Kind != notify.KindBackupFailed || a.Severity != notify.SeverityCritical || a.Job != "nightly" || !strings.Contains(a.Detail, tt.want) {
				t.Fatalf("%v %+v", send, a)
			}
		})
	}
}
