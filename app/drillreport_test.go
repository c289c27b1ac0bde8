package app

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"steward/certs"
	"steward/drills"
	"steward/internal/clock"
)

var tokyo = func() *time.Location {
	loc, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		panic(err)
	}
	return loc
}()

// renderDrillText renders rec's drill report as the CLI does (record →
// DrillReport → PDF) and returns pdftotext's layout extraction.
func renderDrillText(t *testing.T, rec *drills.Record, history []drills.Point) string {
	t.Helper()
	if _, err := os.Stat(certs.DefaultFontPath); err != nil {
		t.Fatalf("%s missing: run scripts/setup.sh (it installs fonts-ipaexfont-gothic)", certs.DefaultFontPath)
	}
	path := filepath.Join(t.TempDir(), "drill.pdf")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	opts := certs.RenderOptions{Location: tokyo, Clock: clock.NewFake(time.Date(2026, 11, 27, 9, 0, 0, 0, tokyo)), TempDir: t.TempDir(),
		Issuer: certs.Issuer{Organisation: "株式会社サンプル運用", Signer: "運用責任者 山田太郎"}}
	if _, err := certs.RenderDrillReport(f, DrillReport(rec, history), opts); err != nil {
		t.Fatalf("render the drill report of a %s drill: %v", rec.Result, err)
	}
	return pdftotext(t, path)
}

// pdftotext extracts a PDF's text with poppler (never skips when missing).
func pdftotext(t *testing.T, path string) string {
	t.Helper()
	if _, err := exec.LookPath("pdftotext"); err != nil {
		t.Fatal("pdftotext not found: run scripts/setup.sh (it installs poppler-utils)")
	}
	out, err := exec.Command("pdftotext", "-layout", "-enc", "UTF-8", path, "-").CombinedOutput()
	if err != nil {
		t.Fatalf("pdftotext %s: %v\n%s", path, err, out)
	}
	return string(out)
}

// normalise collapses all whitespace to single spaces.
func normalise(s string) string { return strings.Join(strings.Fields(s), " ") }

// line is the first line of text containing marker.
func line(t *testing.T, text, marker string) string {
	t.Helper()
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, marker) {
			return l
		}
	}
	t.Fatalf("no line contains %q in:\n%s", marker, text)
	return ""
}

// between is the whitespace-normalised text from the first from to the
// next to.
func between(t *testing.T, text, from, to string) string {
	t.Helper()
	text = normalise(text)
	_, rest, ok := strings.Cut(text, from)
	if !ok {
		t.Fatalf("no %q in:\n%s", from, text)
	}
	part, _, ok := strings.Cut(rest, to)
	if !ok {
		t.Fatalf("no %q after %q in:\n%s", to, from, text)
	}
	return part
}

const (
	deviationsSection = "後片付け・逸脱 / Cleanup and deviations"
	trendSection      = "RTO・RPO の推移"
)

func drillAt(minute int) time.Time { return time.Date(2026, 11, 26, 10, minute, 0, 0, tokyo) }

// baseRecord is a drill's record up to its snapshot choice and manifest.
func baseRecord(id string) *drills.Record {
	return &drills.Record{Schema: drills.Schema, DrillID: id, Contract: "K-2024-017", RunbookVersion: drills.RunbookVersion,
		Trigger: drills.TriggerOperator, Operator: "sato", Participants: []string{"Sato"},
		Job: "nightly", Source: "docs", SourceKind: "path", Repository: "tokyo", SnapshotChoice: "latest",
		SnapshotID: "4f1c2b9a77d0", SnapshotTime: drillAt(0).Add(-2 * time.Hour), Started: drillAt(0), Finished: drillAt(1),
		Steps: []drills.Step{
			{Name: drills.StepChooseSnapshot, Started: drillAt(0), Finished: drillAt(0), Result: drills.ResultPassed, Detail: "latest: snapshot 4f1c2b9a"},
			{Name: drills.StepLoadManifest, Started: drillAt(0), Finished: drillAt(0), Result: drills.ResultPassed, Detail: "from the catalog: 2 items"},
		},
		RPO:            drills.Objective{Actual: 2 * time.Hour, Target: 26 * time.Hour, Met: true},
		ReadDataSubset: drills.Subset{K: 1, N: 12},
		Cleanup:        drills.Step{Name: drills.StepCleanup, Started: drillAt(1), Finished: drillAt(1), Result: drills.ResultPassed, Detail: "dir removed; not listed any more"},
		Deviations:     []string{},
	}
}

// failedRecord is a drill whose verification failed: the RTO was not
// reached (the record says met: false although 3.9 s is under target).
func failedRecord() *drills.Record {
	rec := baseRecord("20261126-100000-bad")
	rec.Steps = append(rec.Steps,
		drills.Step{Name: drills.StepRestore, Started: drillAt(0), Finished: drillAt(0), Result: drills.ResultPassed, Detail: "into dir: 5 bytes"},
		drills.Step{Name: drills.StepVerify, Started: drillAt(0), Finished: drillAt(0), Result: drills.ResultFailed, Detail: "1 of 2 checks failed"},
		drills.Step{Name: drills.StepReadData, Started: drillAt(0), Finished: drillAt(1), Result: drills.ResultPassed, Detail: "restic check --read-data-subset 1/12"})
	rec.Checks = []drills.Check{
		{Name: "files", Expected: "2 files", Actual: "1 files", Result: drills.ResultFailed, Detail: "missing b.txt"},
		{Name: "bytes", Expected: "5 bytes", Actual: "5 bytes", Result: drills.ResultPassed},
		{Name: "RTO (restore and verify)", Expected: "≤ 4h0m0s", Actual: "not reached: the data was not restored and verified", Result: drills.ResultFailed},
		{Name: "RPO (snapshot age)", Expected: "≤ 26h0m0s", Actual: "2h0m0s", Result: drills.ResultPassed},
	}
	rec.RTO = drills.Objective{Actual: 3900 * time.Millisecond, Target: 4 * time.Hour, Met: false}
	rec.Result = drills.ResultFailed
	rec.Problems = []string{
		"step verify failed: 1 of 2 checks failed",
		"check files failed: expected 2 files, got 1 files (missing b.txt)",
		"check RTO (restore and verify) failed: expected ≤ 4h0m0s, got not reached: the data was not restored and verified",
	}
	return rec
}

func passedRecord() *drills.Record {
	rec := baseRecord("20261126-090000-good")
	rec.Steps = append(rec.Steps,
		drills.Step{Name: drills.StepRestore, Started: drillAt(0), Finished: drillAt(0), Result: drills.ResultPassed, Detail: "into dir: 10 bytes"},
		drills.Step{Name: drills.StepVerify, Started: drillAt(0), Finished: drillAt(0), Result: drills.ResultPassed, Detail: "2 checks, 0 failed"})
	rec.Checks = []drills.Check{
		{Name: "files", Expected: "2 files", Actual: "2 files", Result: drills.ResultPassed},
		{Name: "RTO (restore and verify)", Expected: "≤ 4h0m0s", Actual: "3.9s", Result: drills.ResultPassed},
		{Name: "RPO (snapshot age)", Expected: "≤ 26h0m0s", Actual: "2h0m0s", Result: drills.ResultPassed},
	}
	rec.RTO = drills.Objective{Actual: 3900 * time.Millisecond, Target: 4 * time.Hour, Met: true}
	rec.Result = drills.ResultPassed
	return rec
}

// TestFailedDrillReportAgreesWithRecord: a failed drill's report says
// failed everywhere the record does: the overall result, RTO "not
// reached" (the data was never restored and verified), the failed checks,
// and each of the record's problems under deviations.
func TestFailedDrillReportAgreesWithRecord(t *testing.T) {
	rec := failedRecord()
	text := renderDrillText(t, rec, nil)
	norm := normalise(text)
	if !strings.Contains(norm, "総合結果 Overall result: 不合格 / failed") || strings.Contains(norm, "合格 / passed") {
		t.Errorf("overall result is not failed:\n%s", text)
	}
	rto := line(t, text, "RTO (復元+検証")
	if strings.Contains(rto, "達成 met") || !strings.Contains(rto, "not reached") {
		t.Errorf("RTO row %q: the record says met: false and the data was never verified; want not reached, never met", rto)
	}
	if rpo := line(t, text, "RPO (スナップショット経過"); !strings.Contains(rpo, "達成 met") {
		t.Errorf("RPO row %q: the record says met: true", rpo)
	}
	checks := text[strings.Index(text, "検証 / Checks"):strings.Index(text, deviationsSection)]
	if files := line(t, checks, "files "); !strings.HasPrefix(files, "files ") || !strings.Contains(files, "不合格 failed") {
		t.Errorf("check files row %q: want failed", files)
	}
	// A wrapped deviation has its label beside its middle line.
	devs := strings.ReplaceAll(between(t, text, deviationsSection, trendSection), "逸脱 / Deviation ", "")
	if strings.Contains(devs, "なし none") {
		t.Errorf("a failed drill's report says it had no deviations:\n%s", devs)
	}
	for _, p := range rec.Problems {
		// ≤ is printed as ≦ (IPAex Gothic has no ≤).
		if p = strings.ReplaceAll(p, "≤", "≦"); !strings.Contains(devs, p) {
			t.Errorf("deviations lack the record's problem %q:\n%s", p, devs)
		}
	}
}

// TestPassedDrillReportSaysMet: the same drill passed says met, passed and
// no deviations.
func TestPassedDrillReportSaysMet(t *testing.T) {
	text := renderDrillText(t, passedRecord(), nil)
	norm := normalise(text)
	if !strings.Contains(norm, "総合結果 Overall result: 合格 / passed") || strings.Contains(norm, "不合格 / failed") {
		t.Errorf("overall result is not passed:\n%s", text)
	}
	for _, marker := range []string{"RTO (復元+検証", "RPO (スナップショット経過"} {
		if l := line(t, text, marker); !strings.Contains(l, "達成 met") {
			t.Errorf("row %q: the record says met", l)
		}
	}
	if devs := between(t, text, deviationsSection, trendSection); !strings.Contains(devs, "逸脱 / Deviations なし none") {
		t.Errorf("a passed drill's report lists deviations:\n%s", devs)
	}
}

// interruptedRecord is a drill killed during its restore, as `steward
// drill cleanup` leaves it: two steps ran, no RTO was measured (target
// and actual zero), scratch removed afterwards.
func interruptedRecord() *drills.Record {
	rec := baseRecord("20261126-110000-kill")
	rec.Cleanup.Detail = "after the drill was interrupted: dir /srv/scratch/steward-drill-x removed; not listed any more"
	rec.Deviations = []string{"the drill was interrupted before it finished; its scratch was removed afterwards"}
	rec.Problems = append([]string{}, rec.Deviations...)
	rec.Result = drills.ResultInterrupted
	return rec
}

// TestInterruptedDrillReport: an interrupted drill gets a report that says
// so, with the steps that ran and no made-up RTO; also one interrupted
// before it chose a snapshot.
func TestInterruptedDrillReport(t *testing.T) {
	early := interruptedRecord()
	early.DrillID = "20261126-120000-early"
	early.Steps = []drills.Step{}
	early.SnapshotID, early.SnapshotTime, early.RPO = "", time.Time{}, drills.Objective{}
	early.Cleanup.Detail = "after the drill was interrupted: no scratch had been made"
	for _, rec := range []*drills.Record{interruptedRecord(), early} {
		t.Run(rec.DrillID, func(t *testing.T) {
			text := renderDrillText(t, rec, nil)
			norm := normalise(text)
			if !strings.Contains(norm, "総合結果 Overall result: 中断 / interrupted") {
				t.Errorf("overall result is not interrupted:\n%s", text)
			}
			for _, s := range rec.Steps {
				if !strings.Contains(line(t, text, s.Name), "合格 passed") {
					t.Errorf("step %s missing or not passed:\n%s", s.Name, text)
				}
			}
			steps := between(t, text, "手順 / Steps", "検証 / Checks")
			for _, never := range []string{drills.StepRestore, drills.StepVerify, drills.StepReadData} {
				if strings.Contains(steps, never+" ") {
					t.Errorf("the report lists step %s, which never ran:\n%s", never, steps)
				}
			}
			rto := line(t, text, "RTO (復元+検証")
			if !strings.Contains(rto, "not reached") || strings.Contains(rto, "0.0") || strings.Contains(rto, "達成 met") {
				t.Errorf("RTO row %q: want not reached, no made-up figure", rto)
			}
			devs := between(t, text, deviationsSection, trendSection)
			if !strings.Contains(devs, rec.Deviations[0]) || strings.Contains(devs, "なし none") {
				t.Errorf("deviations do not say the drill was interrupted:\n%s", devs)
			}
		})
	}
}

// TestDrillReportPDFInterrupted renders and signs an interrupted drill's
// report from the catalog, as `steward drill report ID` does.
func TestDrillReportPDFInterrupted(t *testing.T) {
	a := newTestApp(t)
	rec := interruptedRecord()
	putDrill(t, a, rec)
	w, rep, err := a.DrillReportPDF(context.Background(), rec.DrillID)
	if err != nil {
		t.Fatalf("drill report of an interrupted drill: %v", err)
	}
	if rep.Overall() != certs.Result(drills.ResultInterrupted) {
		t.Errorf("report result %q, want interrupted", rep.Overall())
	}
	if text := normalise(pdftotext(t, w.Path)); !strings.Contains(text, "中断 / interrupted") {
		t.Errorf("signed report does not say interrupted:\n%s", text)
	}
}
