package certs

import (
	"encoding/json"
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
}

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

// Objective is a measured time against its target.
type Objective struct {
	Actual time.Duration `json:"actual_ns"`
	Target time.Duration `json:"target_ns"`
}

// Met reports whether the objective was met.
func (o Objective) Met() bool { return o.Target > 0 && o.Actual <= o.Target }

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

// Overall is passed only when every step and check passed, both objectives
// were met, cleanup succeeded and nothing deviated from the runbook.
func (d *DrillReport) Overall() Result {
	if len(d.Problems()) == 0 {
		return ResultPassed
	}
	return ResultFailed
}

// Problems lists why the drill did not pass.
func (d *DrillReport) Problems() []string {
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
	if !d.RTO.Met() {
		out = append(out, fmt.Sprintf("RTO %s over target %s", d.RTO.Actual, d.RTO.Target))
	}
	if !d.RPO.Met() {
		out = append(out, fmt.Sprintf("RPO %s over target %s", d.RPO.Actual, d.RPO.Target))
	}
	if d.Cleanup.Result != ResultPassed {
		out = append(out, "cleanup "+resultWord(d.Cleanup.Result))
	}
	out = append(out, d.Deviations...)
	return out
}

func (d *DrillReport) validate() error {
	var probs []string
	if d.DrillID == "" {
		probs = append(probs, "drill_id is empty")
	}
	if d.SnapshotID == "" {
		probs = append(probs, "snapshot_id is empty")
	}
	if d.RTO.Target <= 0 || d.RPO.Target <= 0 {
		probs = append(probs, "rto and rpo need targets: set drills.rto and drills.rpo")
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

func metLabel(ok bool) string {
	if ok {
		return "達成 met"
	}
	return "未達 missed"
}

// RenderDrillReport lays out the restore drill report (復旧訓練報告書) and
// writes the unsigned PDF to w, with the record embedded as JSON.
func RenderDrillReport(w io.Writer, d *DrillReport, opts RenderOptions) (*Rendered, error) {
	if err := d.validate(); err != nil {
		return nil, err
	}
	att, err := compressJSON("drill-"+d.DrillID+".json.zst", opts.TempDir, func(w io.Writer) error {
		return json.NewEncoder(w).Encode(d)
	})
	if err != nil {
		return nil, err
	}
	defer att.close()
	issued := now(opts)
	r, err := newReport(KindDrill, d.DrillID, issued, opts)
	if err != nil {
		return nil, err
	}
	f := r.f
	f.SetTitle("復旧訓練報告書 Restore Drill Report "+d.DrillID, true)
	f.SetSubject("Contract "+d.Contract, true)
	f.SetAuthor(opts.Issuer.Organisation, true)
	r.title("復旧訓練報告書", "Restore Drill Report")

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

// drillResult prints the overall result box: green when the drill passed,
// red with the list of problems otherwise.
func (r *report) drillResult(d *DrillReport) {
	probs := d.Problems()
	if len(probs) == 0 {
		r.box([]string{"総合結果 Overall result: 合格 / passed"}, [3]int{230, 245, 230}, [3]int{0, 110, 0}, 12)
		return
	}
	lines := []string{"総合結果 Overall result: 不合格 / failed"}
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

// drillObjectives prints RTO and RPO against their targets, and the part
// of the repository read.
func (r *report) drillObjectives(d *DrillReport) {
	r.section("目標復旧時間・目標復旧時点", "RTO and RPO")
	r.table([]string{"指標 Objective", "実績 Actual", "目標 Target", "判定 Result"}, []float64{60, 40, 40, 40}, [][]string{
		{"RTO (復元+検証 restore+verify)", minutes(d.RTO.Actual), minutes(d.RTO.Target), metLabel(d.RTO.Met())},
		{"RPO (スナップショット経過 snapshot age)", hours(d.RPO.Actual), hours(d.RPO.Target), metLabel(d.RPO.Met())},
	})
	r.kv("読み取り範囲", "Read data subset", fmt.Sprintf("%d/%d (restic check --read-data-subset)", d.ReadDataSubset.K, d.ReadDataSubset.N))
}

// drillSteps prints the table of runbook steps, cleanup last.
func (r *report) drillSteps(d *DrillReport) {
	r.section("手順", "Steps")
	rows := make([][]string, 0, len(d.Steps)+1)
	for _, s := range append(append([]DrillStep(nil), d.Steps...), d.Cleanup) {
		rows = append(rows, []string{s.Name, r.time(s.Started), r.time(s.Finished), resultLabel(s.Result), s.Detail})
	}
	r.table([]string{"手順 Step", "開始 Started", "終了 Finished", "結果 Result", "詳細 Detail"}, []float64{26, 49.5, 49.5, 20, 35}, rows)
}

// drillChecks prints the table of restored values against the manifest.
func (r *report) drillChecks(d *DrillReport) {
	r.section("検証", "Checks")
	rows := make([][]string, 0, len(d.Checks))
	for _, c := range d.Checks {
		rows = append(rows, []string{c.Name, c.Expected, c.Actual, resultLabel(c.Result)})
	}
	r.table([]string{"検証項目 Check", "期待値 Expected", "実際 Actual", "結果 Result"}, []float64{50, 50, 50, 30}, rows)
}

// drillCleanup prints the cleanup's result and each deviation from the
// runbook.
func (r *report) drillCleanup(d *DrillReport) {
	r.section("後片付け・逸脱", "Cleanup and deviations")
	r.kv("後片付け", "Cleanup", resultLabel(d.Cleanup.Result)+" "+d.Cleanup.Detail)
	if len(d.Deviations) == 0 {
		r.kv("逸脱", "Deviations", "なし none")
	}
	for _, dv := range d.Deviations {
		r.kvColor("逸脱", "Deviation", dv, 180, 0, 0)
	}
}

// drillTrend charts RTO and RPO over the earlier drills and this one,
// each against its target.
func (r *report) drillTrend(d *DrillReport) {
	hist := append(append([]DrillPoint(nil), d.History...), DrillPoint{DrillID: d.DrillID, Time: d.Started, RTO: d.RTO.Actual, RPO: d.RPO.Actual, Result: d.Overall()})
	r.need(110)
	r.section("RTO・RPO の推移", "RTO and RPO over the last drills")
	labels := make([]string, len(hist))
	rto := make([]float64, len(hist))
	rpo := make([]float64, len(hist))
	for i, p := range hist {
		labels[i] = p.Time.In(r.zone.Location()).Format("2006-01-02")
		rto[i] = p.RTO.Minutes()
		rpo[i] = p.RPO.Hours()
	}
	r.lineChart("RTO (分 minutes)", "min", labels, []series{
		{name: "RTO 実績 actual", values: rto, rgb: [3]int{30, 90, 180}},
		flat("目標 target", d.RTO.Target.Minutes(), len(hist), [3]int{200, 40, 40}),
	}, 40)
	r.lineChart("RPO (時間 hours)", "h", labels, []series{
		{name: "RPO 実績 actual", values: rpo, rgb: [3]int{20, 140, 80}},
		flat("目標 target", d.RPO.Target.Hours(), len(hist), [3]int{200, 40, 40}),
	}, 40)
}
