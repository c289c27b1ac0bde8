package certs

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// DrillReport is the record of one restore drill (req 22), as the drills
// package fills it. It is embedded in the drill report as JSON.
type DrillReport struct {
	DrillID        string `json:"drill_id"`
	Contract       string `json:"contract"`
	RunbookVersion string `json:"runbook_version"`
	// Trigger is "schedule" or "manual" (with who asked).
	Trigger      string    `json:"trigger"`
	Participants []string  `json:"participants"`
	Job          string    `json:"job"`
	SourceKind   string    `json:"source_kind"`
	Source       string    `json:"source"`
	Repository   string    `json:"repository"`
	SnapshotID   string    `json:"snapshot_id"`
	SnapshotTime time.Time `json:"snapshot_time"`
	Started      time.Time `json:"started"`
	Finished     time.Time `json:"finished"`

	Steps  []DrillStep  `json:"steps"`
	Checks []DrillCheck `json:"checks"`
	// RTO is restore plus verification time; RPO the snapshot's age when
	// the drill started.
	RTO Objective `json:"rto"`
	RPO Objective `json:"rpo"`
	// ReadDataSubset is the part of the repository read this drill
	// (restic check --read-data-subset K/N).
	ReadDataSubset Subset    `json:"read_data_subset"`
	Deviations     []string  `json:"deviations"`
	Cleanup        DrillStep `json:"cleanup"`

	// History holds earlier drills (oldest first), for the RTO/RPO chart;
	// this drill is added to it when charted.
	History []DrillPoint `json:"history"`

	// Result is the record's overall result: passed, failed or
	// interrupted. The report prints it as it is; it never re-judges the
	// drill.
	Result Result `json:"result"`
	// Failures is the record's list of why the drill did not pass (its
	// failed steps and checks, cleanup and deviations).
	Failures []string `json:"failures,omitempty"`
}

// Drill results besides passed and failed.
const (
	// ResultInterrupted is a drill that was stopped (killed, crashed)
	// before it finished; `steward drill cleanup` recorded it so.
	ResultInterrupted Result = "interrupted"
	// ResultSkipped is a step that was not run.
	ResultSkipped Result = "skipped"
)

// DrillStep is one step of the runbook as executed.
type DrillStep struct {
	Name     string    `json:"name"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	Result   Result    `json:"result"`
	Detail   string    `json:"detail,omitempty"`
}

// DrillCheck compares a restored value with the backup-time manifest.
type DrillCheck struct {
	Name     string `json:"name"`
	Expected string `json:"expected"`
	Actual   string `json:"actual"`
	Result   Result `json:"result"`
}

// Objective is a measured time against its target, with the record's
// verdict.
type Objective struct {
	Actual time.Duration `json:"actual_ns"`
	Target time.Duration `json:"target_ns"`
	// Measured is false when the drill never measured the objective:
	// the RTO when the data was never restored and verified, the RPO when
	// no snapshot was chosen. Actual then means nothing.
	Measured bool `json:"measured"`
	// Met is the record's verdict, printed as it is.
	Met bool `json:"met"`
}

// legacyMet is how reports made before objectives carried the record's
// verdict judged them (Verify reads such reports).
func (o Objective) legacyMet() bool { return o.Target > 0 && o.Actual <= o.Target }

// Subset is K of N (restic's --read-data-subset K/N).
type Subset struct {
	K int `json:"k"`
	N int `json:"n"`
}

// DrillPoint is one drill in the history chart.
type DrillPoint struct {
	DrillID string        `json:"drill_id"`
	Time    time.Time     `json:"time"`
	RTO     time.Duration `json:"rto_ns"`
	RPO     time.Duration `json:"rpo_ns"`
	Result  Result        `json:"result"`
}

// Overall is the record's result. A report made before reports carried
// it (Result empty) is judged as it was then: passed only when every step
// and check passed, both objectives were met, cleanup succeeded and
// nothing deviated from the runbook.
func (d *DrillReport) Overall() Result {
	if d.Result != "" {
		return d.Result
	}
	if len(d.derivedProblems(Objective.legacyMet)) == 0 {
		return ResultPassed
	}
	return ResultFailed
}

// Problems lists why the drill did not pass: the record's failures. A
// record that did not pass but lists none gets what its steps and checks
// show, so that a failure is never shown without its cause.
func (d *DrillReport) Problems() []string {
	if d.Result == "" {
		return d.derivedProblems(Objective.legacyMet)
	}
	if d.Result == ResultPassed {
		return nil
	}
	if len(d.Failures) > 0 {
		return d.Failures
	}
	if probs := d.derivedProblems(func(o Objective) bool { return !o.Measured || o.Met }); len(probs) > 0 {
		return probs
	}
	return []string{"the record says " + string(d.Result) + " without saying why"}
}

// derivedProblems lists what the steps, checks, objectives (judged by
// met), cleanup and deviations show went wrong.
func (d *DrillReport) derivedProblems(met func(Objective) bool) []string {
	var out []string
	if len(d.Steps) == 0 {
		out = append(out, "no steps recorded")
	}
	for _, s := range d.Steps {
		if s.Result != ResultPassed {
			out = append(out, "step "+s.Name+" "+resultWord(s.Result))
		}
	}
	for _, c := range d.Checks {
		if c.Result != ResultPassed {
			out = append(out, "check "+c.Name+" "+resultWord(c.Result))
		}
	}
	if !met(d.RTO) {
		out = append(out, fmt.Sprintf("RTO %s over target %s", d.RTO.Actual, d.RTO.Target))
	}
	if !met(d.RPO) {
		out = append(out, fmt.Sprintf("RPO %s over target %s", d.RPO.Actual, d.RPO.Target))
	}
	if d.Cleanup.Result != ResultPassed {
		out = append(out, "cleanup "+resultWord(d.Cleanup.Result))
	}
	out = append(out, d.Deviations...)
	return out
}

// validate refuses a report that is incomplete or that would contradict
// itself: one that says passed must show nothing that failed.
func (d *DrillReport) validate() error {
	var probs []string
	if d.DrillID == "" {
		probs = append(probs, "drill_id is empty")
	}
	switch d.Result {
	case ResultPassed:
		if d.SnapshotID == "" {
			probs = append(probs, "snapshot_id is empty")
		}
		if d.RTO.Target <= 0 || d.RPO.Target <= 0 {
			probs = append(probs, "a passed drill needs RTO and RPO targets: set drills.rto_target and drills.rpo_target")
		}
		inconsistent := d.derivedProblems(func(o Objective) bool { return o.Measured && o.Met })
		inconsistent = append(inconsistent, d.Failures...)
		if len(inconsistent) > 0 {
			probs = append(probs, "the record says passed, but: "+strings.Join(inconsistent, "; "))
		}
	case ResultFailed, ResultInterrupted:
	default:
		probs = append(probs, fmt.Sprintf("result %q: want passed, failed or interrupted (a drill is reported once it has finished)", d.Result))
	}
	if len(probs) > 0 {
		return fmt.Errorf("drill report: %w: %s", ErrInvalidEvidence, strings.Join(probs, "; "))
	}
	return nil
}

// minutes prints d in minutes, or in seconds when under a minute.
func minutes(d time.Duration) string {
	if d > 0 && d < time.Minute {
		return fmt.Sprintf("%.1f s", d.Seconds())
	}
	return fmt.Sprintf("%.1f min", d.Minutes())
}

// hours prints d in hours, or in minutes when under an hour.
func hours(d time.Duration) string {
	if d > 0 && d < time.Hour {
		return minutes(d)
	}
	return fmt.Sprintf("%.1f h", d.Hours())
}

// objectiveRow is a row of the RTO/RPO table: the actual figure, the
// target and the record's verdict. An objective the drill never measured
// is "not reached", never a figure.
func objectiveRow(name string, o Objective, format func(time.Duration) string) []string {
	actual, verdict := format(o.Actual), "未達 not met"
	switch {
	case !o.Measured:
		actual, verdict = "未到達 not reached", "未到達 not reached"
	case o.Met:
		verdict = "達成 met"
	}
	target := "— (記録なし not recorded)"
	if o.Target > 0 {
		target = format(o.Target)
	}
	return []string{name, actual, target, verdict}
}

// overallLabel is the overall result in Japanese and English.
func overallLabel(r Result) string {
	switch r {
	case ResultPassed:
		return "合格 / passed"
	case ResultInterrupted:
		return "中断 / interrupted"
	}
	return "不合格 / failed"
}

// drillResultLabel is a drill's, step's or check's result.
func drillResultLabel(r Result) string {
	switch r {
	case ResultInterrupted:
		return "中断 interrupted"
	case ResultSkipped:
		return "省略 skipped"
	}
	return resultLabel(r)
}

// RenderDrillReport lays out the restore drill report (復旧訓練報告書) and
// writes the unsigned PDF to w, with the record embedded as JSON.
func RenderDrillReport(w io.Writer, d *DrillReport, opts RenderOptions) (*Rendered, error) {
	if err := d.validate(); err != nil {
		return nil, err
	}
	r, att, err := startJSONReport(d, reportHead{Kind: KindDrill, ID: d.DrillID, File: "drill-" + d.DrillID, Contract: d.Contract,
		JA: "復旧訓練報告書", EN: "Restore Drill Report", TitleID: d.DrillID}, opts)
	if err != nil {
		return nil, err
	}
	defer att.close()

	r.drillResult(d)
	r.drillInfo(d, opts.Issuer, att.sha)
	r.drillObjectives(d)
	r.drillSteps(d)
	r.drillChecks(d)
	r.drillCleanup(d)
	r.drillTrend(d)

	if err := r.finish(w, att); err != nil {
		return nil, err
	}
	return &Rendered{Kind: KindDrill, ID: d.DrillID, DataSHA256: att.sha}, nil
}

// drillResult prints the record's overall result: green when the drill
// passed, red with the record's problems otherwise.
func (r *report) drillResult(d *DrillReport) {
	if d.Overall() == ResultPassed {
		r.box([]string{"総合結果 Overall result: " + overallLabel(ResultPassed)}, [3]int{230, 245, 230}, [3]int{0, 110, 0}, 12)
		return
	}
	probs := d.Problems()
	lines := []string{"総合結果 Overall result: " + overallLabel(d.Overall())}
	for i, p := range probs {
		lines = append(lines, fmt.Sprintf("%d. %s", i+1, p))
	}
	r.box(lines, [3]int{253, 232, 232}, [3]int{180, 0, 0}, 11)
}

// drillInfo prints the drill's particulars: who, what was restored from
// where, when, and the hash of the embedded record.
func (r *report) drillInfo(d *DrillReport, issuer Issuer, sha string) {
	r.section("訓練情報", "Drill")
	r.kv("訓練ID", "Drill ID", d.DrillID)
	r.kv("契約番号", "Contract ID", d.Contract)
	r.kv("発行者", "Issuer", issuer.Organisation)
	r.kv("署名者", "Signer", issuer.Signer)
	r.kv("手順書版", "Runbook version", d.RunbookVersion)
	r.kv("契機", "Trigger", d.Trigger)
	r.kv("参加者", "Participants", strings.Join(d.Participants, ", "))
	r.kv("ジョブ", "Job", d.Job)
	r.kv("ソース種別", "Source kind", d.SourceKind)
	r.kv("ソース", "Source", d.Source)
	r.kv("リポジトリ", "Repository", d.Repository)
	r.kv("スナップショット", "Snapshot", d.SnapshotID)
	r.kv("スナップショット時刻", "Snapshot time", r.time(d.SnapshotTime))
	r.kv("開始", "Started", r.time(d.Started))
	r.kv("終了", "Finished", r.time(d.Finished))
	r.kvHash("記録 SHA-256", "Record SHA-256", sha)
}

// drillObjectives prints RTO and RPO against their targets with the
// record's verdicts, and the part of the repository read.
func (r *report) drillObjectives(d *DrillReport) {
	r.section("目標復旧時間・目標復旧時点", "RTO and RPO")
	r.table([]string{"指標 Objective", "実績 Actual", "目標 Target", "判定 Result"}, []float64{60, 40, 40, 40}, [][]string{
		objectiveRow("RTO (復元+検証 restore+verify)", d.RTO, minutes),
		objectiveRow("RPO (スナップショット経過 snapshot age)", d.RPO, hours),
	})
	r.kv("読み取り範囲", "Read data subset", fmt.Sprintf("%d/%d (restic check --read-data-subset)", d.ReadDataSubset.K, d.ReadDataSubset.N))
}

// drillSteps prints the table of runbook steps, cleanup last.
func (r *report) drillSteps(d *DrillReport) {
	r.section("手順", "Steps")
	rows := make([][]string, 0, len(d.Steps)+1)
	for _, s := range append(append([]DrillStep(nil), d.Steps...), d.Cleanup) {
		rows = append(rows, []string{s.Name, r.time(s.Started), r.time(s.Finished), drillResultLabel(s.Result), s.Detail})
	}
	r.table([]string{"手順 Step", "開始 Started", "終了 Finished", "結果 Result", "詳細 Detail"}, []float64{26, 49.5, 49.5, 20, 35}, rows)
}

// drillChecks prints the table of restored values against the manifest.
func (r *report) drillChecks(d *DrillReport) {
	r.section("検証", "Checks")
	rows := make([][]string, 0, len(d.Checks))
	for _, c := range d.Checks {
		rows = append(rows, []string{c.Name, c.Expected, c.Actual, drillResultLabel(c.Result)})
	}
	r.table([]string{"検証項目 Check", "期待値 Expected", "実際 Actual", "結果 Result"}, []float64{50, 50, 50, 30}, rows)
}

// drillCleanup prints the cleanup's result and each deviation: every
// problem of a drill that did not pass (failed steps and checks, cleanup,
// deviations from the runbook).
func (r *report) drillCleanup(d *DrillReport) {
	r.section("後片付け・逸脱", "Cleanup and deviations")
	r.kv("後片付け", "Cleanup", drillResultLabel(d.Cleanup.Result)+" "+d.Cleanup.Detail)
	devs := d.Problems()
	if len(devs) == 0 {
		r.kv("逸脱", "Deviations", "なし none")
	}
	for _, dv := range devs {
		r.kvColor("逸脱", "Deviation", dv, 180, 0, 0)
	}
}

// drillTrend charts RTO and RPO over the earlier drills and this one,
// each against its target. Drills that did not pass are marked, not
// plotted (see splitTrend).
func (r *report) drillTrend(d *DrillReport) {
	hist := append(append([]DrillPoint(nil), d.History...), DrillPoint{DrillID: d.DrillID, Time: d.Started, RTO: d.RTO.Actual, RPO: d.RPO.Actual, Result: d.Overall()})
	r.need(110)
	r.section("RTO・RPO の推移", "RTO and RPO over the last drills")
	labels := make([]string, len(hist))
	for i, p := range hist {
		labels[i] = p.Time.In(r.zone.Location()).Format("2006-01-02")
	}
	rto := splitTrend(hist, func(p DrillPoint) float64 { return p.RTO.Minutes() })
	rpo := splitTrend(hist, func(p DrillPoint) float64 { return p.RPO.Hours() })
	rtoLines := []series{{name: "RTO 実績 actual", values: rto.passed, rgb: [3]int{30, 90, 180}}}
	if d.RTO.Target > 0 {
		rtoLines = append(rtoLines, flat("目標 target", d.RTO.Target.Minutes(), len(hist), [3]int{200, 40, 40}))
	}
	rpoLines := []series{{name: "RPO 実績 actual", values: rpo.passed, rgb: [3]int{20, 140, 80}}}
	if d.RPO.Target > 0 {
		rpoLines = append(rpoLines, flat("目標 target", d.RPO.Target.Hours(), len(hist), [3]int{200, 40, 40}))
	}
	if rto.nFailed > 0 {
		rtoLines, rpoLines = append(rtoLines, rto.failedSeries()), append(rpoLines, rpo.failedSeries())
	}
	r.lineChart("RTO (分 minutes)", "min", labels, rtoLines, 40)
	r.lineChart("RPO (時間 hours)", "h", labels, rpoLines, 40)
	r.trendCaption(rto)
}
