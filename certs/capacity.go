package certs

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
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

// RepositoryCapacity is one repository's stored volume.
type RepositoryCapacity struct {
	Name      string        `json:"name"`
	Location  string        `json:"location"`
	Region    string        `json:"region"`
	Snapshots int           `json:"snapshots"`
	Volume    []VolumePoint `json:"volume"`
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
	att, err := compressJSON("capacity-"+c.Month+".json.zst", opts.TempDir, func(w io.Writer) error {
		return json.NewEncoder(w).Encode(c)
	})
	if err != nil {
		return nil, err
	}
	defer att.close()
	r, err := newReport(KindCapacity, c.ID(), now(opts), opts)
	if err != nil {
		return nil, err
	}
	f := r.f
	f.SetTitle("容量・性能報告書 Capacity and Performance Report "+c.Month, true)
	f.SetSubject("Contract "+c.Contract, true)
	f.SetAuthor(opts.Issuer.Organisation, true)
	r.title("容量・性能報告書", "Capacity and Performance Report")
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
		allVols = append(allVols, p.Volume)
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

// capacityRepositories prints the table of repositories: volume, growth
// and snapshots.
func (r *report) capacityRepositories(repos []RepositoryCapacity, sc volumeScale) {
	r.section("リポジトリ", "Repositories")
	rows := [][]string{}
	for _, p := range repos {
		a, b := growth(p.Volume)
		rows = append(rows, []string{p.Name, p.Location, p.Region, fmt.Sprintf("%.2f", sc.size(b)), fmt.Sprintf("%+.2f", sc.size(b-a)), fmt.Sprint(p.Snapshots)})
	}
	r.table([]string{"名前 Name", "場所 Location", "リージョン Region", "容量 " + sc.unit, "増減 Growth", "スナップショット"},
		[]float64{30, 52, 28, 22, 22, 26}, rows)
}

// capacityVolumeCharts charts the sources' and the repositories' volume
// over the month.
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
		names, vols = append(names, p.Name), append(vols, p.Volume)
	}
	r.volumeChart("リポジトリの容量 Repository volume ("+sc.unit+")", names, vols, sc)
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

// capacityDrills charts the drills' RTO and lists the drills.
func (r *report) capacityDrills(drills []DrillPoint) {
	r.need(70)
	r.section("復旧訓練 RTO の推移", "Drill RTO trend")
	if len(drills) == 0 {
		r.para("この期間の復旧訓練はありません。", "No restore drills in this period.")
		return
	}
	labels := make([]string, len(drills))
	rto := make([]float64, len(drills))
	for i, d := range drills {
		labels[i] = d.Time.In(r.zone.Location()).Format("2006-01-02")
		rto[i] = d.RTO.Minutes()
	}
	r.lineChart("RTO (分 minutes)", "min", labels, []series{{name: "RTO", values: rto, rgb: chartPalette[0]}}, 40)
	rows := [][]string{}
	for _, d := range drills {
		rows = append(rows, []string{d.DrillID, r.time(d.Time), minutes(d.RTO), hours(d.RPO), resultLabel(d.Result)})
	}
	r.table([]string{"訓練ID Drill", "日時 Time", "RTO", "RPO", "結果 Result"}, []float64{40, 50, 30, 30, 30}, rows)
}

func now(opts RenderOptions) time.Time {
	if opts.Clock == nil {
		return clock.System.Now()
	}
	return opts.Clock.Now()
}
