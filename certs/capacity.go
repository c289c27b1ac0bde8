package certs

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"

	"steward/internal/clock"
)

// CapacityReport is one month's data volume and backup performance
// (req 17), as the catalog fills it.
type CapacityReport struct {
	// Month is YYYY-MM.
	Month        string               `json:"month"`
	Contract     string               `json:"contract"`
	Sources      []SourceCapacity     `json:"sources"`
	Repositories []RepositoryCapacity `json:"repositories"`
	// Drills are the month's restore drills (and earlier ones, oldest
	// first), for the RTO trend.
	Drills []DrillPoint `json:"drills"`
}

// ID is the report's id, CAP-YYYY-MM.
func (c *CapacityReport) ID() string { return "CAP-" + c.Month }

// VolumePoint is a day's data volume.
type VolumePoint struct {
	Date  string `json:"date"`
	Bytes int64  `json:"bytes"`
}

// SourceCapacity is one backup source's volume and backup runs.
type SourceCapacity struct {
	Name    string        `json:"name"`
	Kind    string        `json:"kind"`
	Volume  []VolumePoint `json:"volume"`
	Backups BackupStats   `json:"backups"`
}

// BackupStats summarise a source's backup runs in the month.
type BackupStats struct {
	Runs   int           `json:"runs"`
	Failed int           `json:"failed"`
	Mean   time.Duration `json:"mean_duration_ns"`
	Max    time.Duration `json:"max_duration_ns"`
	// Bytes is the data read by all runs; throughput is Bytes over the
	// total duration.
	Bytes int64         `json:"bytes_read"`
	Total time.Duration `json:"total_duration_ns"`
}

// Throughput is the mean bytes read per second.
func (b BackupStats) Throughput() float64 {
	if b.Total <= 0 {
		return 0
	}
	return float64(b.Bytes) / b.Total.Seconds()
}

// RepositoryCapacity is one repository: what it holds now, read from the
// repository itself when the report was made, and the data the month's
// backups added to it.
type RepositoryCapacity struct {
	Name     string `json:"name"`
	Location string `json:"location"`
	Region   string `json:"region"`
	// Roles are "primary" and/or "replica".
	Roles []string `json:"roles,omitempty"`
	// Stored is what the repository held when the report was made; nil
	// when it could not be read, and Unreadable says why.
	Stored     *StoredNow `json:"stored,omitempty"`
	Unreadable string     `json:"unreadable,omitempty"`
	// Added is the data the month's backups added, accumulated day by day,
	// from the run records (which record a run under its primary
	// repository only: a replica's copies are not in it).
	Added []VolumePoint `json:"added_this_month"`
}

// StoredNow is what a repository holds, as restic reported it.
type StoredNow struct {
	// At is when it was read.
	At time.Time `json:"at"`
	// Snapshots counts every snapshot (restic snapshots); DataSnapshots
	// those of backed-up data, the rest being their manifests.
	Snapshots     int `json:"snapshots"`
	DataSnapshots int `json:"data_snapshots"`
	// Bytes is restic stats --mode raw-data's total_size (compressed),
	// UncompressedBytes its total_uncompressed_size.
	Bytes             int64 `json:"bytes"`
	UncompressedBytes int64 `json:"uncompressed_bytes"`
}

func growth(v []VolumePoint) (first, last int64) {
	if len(v) == 0 {
		return 0, 0
	}
	return v[0].Bytes, v[len(v)-1].Bytes
}

// sizeUnit picks the binary unit in which max reads best, so that a small
// contract's report does not print 0.00 GiB.
func sizeUnit(max int64) (name string, div float64) {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	div = 1
	i := 0
	for ; i < len(units)-1 && float64(max) >= 1024*div; i++ {
		div *= 1024
	}
	return units[i], div
}

func maxBytes(vols ...[]VolumePoint) int64 {
	var m int64
	for _, v := range vols {
		for _, p := range v {
			m = max(m, p.Bytes)
		}
	}
	return m
}

// RenderCapacityReport lays out the capacity and performance report and
// writes the unsigned PDF to w, with its data embedded as JSON.
func RenderCapacityReport(w io.Writer, c *CapacityReport, opts RenderOptions) (*Rendered, error) {
	if _, err := time.Parse("2006-01", c.Month); err != nil {
		return nil, fmt.Errorf("capacity report: %w: month %q: use YYYY-MM", ErrInvalidEvidence, c.Month)
	}
	r, att, err := startJSONReport(c, reportHead{Kind: KindCapacity, ID: c.ID(), File: "capacity-" + c.Month, Contract: c.Contract,
		JA: "容量・性能報告書", EN: "Capacity and Performance Report", TitleID: c.Month}, opts)
	if err != nil {
		return nil, err
	}
	defer att.close()
	r.kv("対象月", "Month", c.Month)
	r.kv("契約番号", "Contract ID", c.Contract)
	r.kv("発行者", "Issuer", opts.Issuer.Organisation)
	r.kvHash("データ SHA-256", "Data SHA-256", att.sha)

	sc := capacityScale(c)
	r.capacitySources(c.Sources, sc)
	r.capacityRepositories(c.Repositories, sc)
	r.capacityVolumeCharts(c, sc)
	r.capacityDrills(c.Drills)

	if err := r.finish(w, att); err != nil {
		return nil, err
	}
	return &Rendered{Kind: KindCapacity, ID: c.ID(), DataSHA256: att.sha}, nil
}

// chartPalette colours a chart's lines in turn.
var chartPalette = [][3]int{{30, 90, 180}, {20, 140, 80}, {200, 110, 0}, {150, 40, 150}, {90, 90, 90}}

// volumeScale prints data volumes in one binary unit.
type volumeScale struct {
	unit string
	div  float64
}

func (s volumeScale) size(n int64) float64 { return float64(n) / s.div }

// capacityScale is the unit in which the largest volume of any source or
// repository in c reads best.
func capacityScale(c *CapacityReport) volumeScale {
	var allVols [][]VolumePoint
	for _, s := range c.Sources {
		allVols = append(allVols, s.Volume)
	}
	for _, p := range c.Repositories {
		allVols = append(allVols, p.Added)
	}
	unit, div := sizeUnit(maxBytes(allVols...))
	return volumeScale{unit: unit, div: div}
}

// capacitySources prints the table of sources: volume, growth and backup
// runs.
func (r *report) capacitySources(sources []SourceCapacity, sc volumeScale) {
	r.section("バックアップ元", "Sources")
	rows := [][]string{}
	for _, s := range sources {
		a, b := growth(s.Volume)
		rows = append(rows, []string{s.Name, s.Kind, fmt.Sprintf("%.2f", sc.size(b)), fmt.Sprintf("%+.2f", sc.size(b-a)),
			fmt.Sprintf("%d / %d", s.Backups.Runs-s.Backups.Failed, s.Backups.Runs),
			minutes(s.Backups.Mean), minutes(s.Backups.Max), fmt.Sprintf("%.1f", s.Backups.Throughput()/(1<<20))})
	}
	r.table([]string{"名前 Name", "種別 Kind", "容量 " + sc.unit, "増減 Growth", "成功 OK/runs", "平均 Mean", "最大 Max", "MiB/s"},
		[]float64{34, 18, 20, 22, 22, 22, 22, 20}, rows)
}

// capacityRepositories prints the table of repositories: what each holds
// now, read from it when the report was made, and what the month's
// backups added; then why each unreadable one could not be read.
func (r *report) capacityRepositories(repos []RepositoryCapacity, sc volumeScale) {
	r.section("リポジトリ", "Repositories")
	r.para("保管量と件数 (スナップショット数、うちデータ) は、この報告書の作成時に各リポジトリから restic で読み取った現在の値です (restic stats --mode raw-data、restic snapshots)。追加は今月のバックアップで追加されたデータで、バックアップ実行記録によります (複製先へのコピーは記録されません)。",
		"Stored and snapshots (of which data) are stored now: read from each repository with restic when this report was made (restic stats --mode raw-data, restic snapshots). Added is the data added by backups this month, from the backup run records (copies to replicas are not recorded there).")
	rows := [][]string{}
	var unreadable []RepositoryCapacity
	for _, p := range repos {
		stored, snaps := "読み取り不可 unreadable", "読み取り不可 unreadable"
		if p.Stored != nil {
			stored = humanBytes(p.Stored.Bytes)
			snaps = fmt.Sprintf("%d (data %d)", p.Stored.Snapshots, p.Stored.DataSnapshots)
		} else {
			unreadable = append(unreadable, p)
		}
		rows = append(rows, []string{p.Name, roleLabel(p.Roles), p.Location, p.Region, stored, snaps, addedLabel(p, sc)})
	}
	r.table([]string{"名前 Name", "役割 Role", "場所 Location", "リージョン Region", "保管量 Stored", "件数 Snapshots", "追加 Added " + sc.unit},
		[]float64{25, 22, 28, 26, 29, 23, 27}, rows)
	for _, p := range unreadable {
		why := p.Unreadable
		if why == "" {
			why = "not read"
		}
		r.kvColor("読み取り不可", "Unreadable", p.Name+": "+why, 180, 0, 0)
	}
}

func roleLabel(roles []string) string {
	var out []string
	for _, role := range roles {
		switch role {
		case "primary":
			out = append(out, "主 primary")
		case "replica":
			out = append(out, "複製先 replica")
		default:
			out = append(out, role)
		}
	}
	return strings.Join(out, ", ")
}

// addedLabel is the data the month's backups added to p, or why there is
// no figure.
func addedLabel(p RepositoryCapacity, sc volumeScale) string {
	if len(p.Added) > 0 {
		return fmt.Sprintf("%+.2f", sc.size(p.Added[len(p.Added)-1].Bytes))
	}
	if slices.Contains(p.Roles, "replica") && !slices.Contains(p.Roles, "primary") {
		return "— (コピーは記録なし copies not recorded)"
	}
	return "— (なし none)"
}

// capacityVolumeCharts charts the sources' volume and the data the
// backups added to each repository over the month.
func (r *report) capacityVolumeCharts(c *CapacityReport, sc volumeScale) {
	var names []string
	var vols [][]VolumePoint
	for _, s := range c.Sources {
		names, vols = append(names, s.Name), append(vols, s.Volume)
	}
	r.need(70)
	r.section("容量の推移", "Data volume over the month")
	r.volumeChart("バックアップ元の容量 Source volume ("+sc.unit+")", names, vols, sc)
	names, vols = nil, nil
	for _, p := range c.Repositories {
		names, vols = append(names, p.Name), append(vols, p.Added)
	}
	r.volumeChart("今月バックアップで追加されたデータ(累計) Data added by backups this month, cumulative ("+sc.unit+")", names, vols, sc)
}

// volumeChart charts one line per volume series, named by names, against
// the dates of the longest series.
func (r *report) volumeChart(title string, names []string, vols [][]VolumePoint, sc volumeScale) {
	var labels []string
	for _, v := range vols {
		if len(v) > len(labels) {
			labels = labels[:0]
			for _, p := range v {
				labels = append(labels, p.Date[5:])
			}
		}
	}
	var lines []series
	for i, v := range vols {
		vals := make([]float64, len(labels))
		for j := range vals {
			vals[j] = math.NaN()
			if j < len(v) {
				vals[j] = sc.size(v[j].Bytes)
			}
		}
		lines = append(lines, series{name: names[i], values: vals, rgb: chartPalette[i%len(chartPalette)]})
	}
	r.lineChart(title, sc.unit, labels, lines, 45)
}

// capacityDrills charts the drills' RTO and lists the drills. Only a
// passed drill has an RTO: the others are marked, not plotted, and their
// RTO is not printed.
func (r *report) capacityDrills(drills []DrillPoint) {
	r.need(70)
	r.section("復旧訓練 RTO の推移", "Drill RTO trend")
	if len(drills) == 0 {
		r.para("この期間の復旧訓練はありません。", "No restore drills in this period.")
		return
	}
	labels := make([]string, len(drills))
	for i, d := range drills {
		labels[i] = d.Time.In(r.zone.Location()).Format("2006-01-02")
	}
	rto := splitTrend(drills, func(d DrillPoint) float64 { return d.RTO.Minutes() })
	lines := []series{{name: "RTO", values: rto.passed, rgb: chartPalette[0]}}
	if rto.nFailed > 0 {
		lines = append(lines, rto.failedSeries())
	}
	r.lineChart("RTO (分 minutes)", "min", labels, lines, 40)
	r.trendCaption(rto)
	rows := [][]string{}
	for _, d := range drills {
		rtoCell, rpoCell := minutes(d.RTO), hours(d.RPO)
		if d.Result != ResultPassed {
			rtoCell = "—"
		}
		if d.RPO <= 0 {
			rpoCell = "—"
		}
		rows = append(rows, []string{d.DrillID, r.time(d.Time), rtoCell, rpoCell, drillResultLabel(d.Result)})
	}
	r.table([]string{"訓練ID Drill", "日時 Time", "RTO", "RPO", "結果 Result"}, []float64{40, 50, 30, 30, 30}, rows)
}

func now(opts RenderOptions) time.Time {
	if opts.Clock == nil {
		return clock.System.Now()
	}
	return opts.Clock.Now()
}
