package server

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Facts are what /metrics reports, read from the catalog at each scrape.
type Facts struct {
	// Backups has one entry per job and source (into the job's primary
	// repository).
	Backups []BackupFacts
	// Repositories has one entry per configured repository.
	Repositories []RepositoryFacts
	// Drills has the newest finished drill per job, source and repository.
	Drills []DrillFacts
	// ClockState is synchronised, unsynchronised or unknown.
	ClockState string
	// ContractDaysLeft is the time to the end of the contract's last day,
	// in days (negative once it ended).
	ContractDaysLeft float64
}

// BackupFacts are one source's backups in one job.
type BackupFacts struct {
	Job, Source, Repository string
	// LastSuccess is when the newest successful run finished (zero: none).
	LastSuccess time.Time
	// LastDuration and LastBytesAdded are that run's.
	LastDuration   time.Duration
	LastBytesAdded int64
	// LastFailed says whether the newest finished run failed.
	LastFailed bool
	// Failures counts the failed runs in the catalog.
	Failures int
}

// RepositoryFacts are one repository's.
type RepositoryFacts struct {
	Name string
	// Snapshots counts the snapshots the catalog records in it.
	Snapshots int
	// Checked says whether a check or drill ever gave a verdict; CheckOK
	// and CheckTime are the newest one's.
	Checked   bool
	CheckOK   bool
	CheckTime time.Time
}

// DrillFacts are the newest finished drill of one source from one
// repository.
type DrillFacts struct {
	Job, Source, Repository string
	Time                    time.Time
	Passed                  bool
	RTO, RPO                time.Duration
}

var (
	backupLabels = []string{"job", "source", "repository"}
	descs        = struct {
		lastSuccess, lastDuration, bytesAdded, lastFailed, failures *prometheus.Desc
		snapshots, checkOK, checkTime                               *prometheus.Desc
		drillPassed, drillTime, drillRTO, drillRPO                  *prometheus.Desc
		clockSync, daysLeft, up                                     *prometheus.Desc
	}{
		lastSuccess:  prometheus.NewDesc("steward_backup_last_success_timestamp_seconds", "When the newest successful backup run of the source finished (Unix time; absent before the first).", backupLabels, nil),
		lastDuration: prometheus.NewDesc("steward_backup_last_success_duration_seconds", "How long the newest successful backup run of the source took.", backupLabels, nil),
		bytesAdded:   prometheus.NewDesc("steward_backup_last_success_bytes_added", "Bytes the newest successful backup run added to the repository (after deduplication).", backupLabels, nil),
		lastFailed:   prometheus.NewDesc("steward_backup_last_run_failed", "1 if the newest finished backup run of the source failed, else 0.", backupLabels, nil),
		failures:     prometheus.NewDesc("steward_backup_failures_total", "Failed backup runs of the source recorded in the catalog.", backupLabels, nil),
		snapshots:    prometheus.NewDesc("steward_repository_snapshots", "Snapshots the catalog records in the repository.", []string{"repository"}, nil),
		checkOK:      prometheus.NewDesc("steward_repository_check_ok", "1 if the repository's newest check or drill verdict is ok, 0 if failing (absent before the first).", []string{"repository"}, nil),
		checkTime:    prometheus.NewDesc("steward_repository_check_timestamp_seconds", "When the repository's newest check or drill verdict was reached (Unix time).", []string{"repository"}, nil),
		drillPassed:  prometheus.NewDesc("steward_drill_last_passed", "1 if the newest finished drill passed, else 0.", backupLabels, nil),
		drillTime:    prometheus.NewDesc("steward_drill_last_timestamp_seconds", "When the newest finished drill started (Unix time).", backupLabels, nil),
		drillRTO:     prometheus.NewDesc("steward_drill_last_rto_seconds", "The newest finished drill's measured recovery time (restore and verify).", backupLabels, nil),
		drillRPO:     prometheus.NewDesc("steward_drill_last_rpo_seconds", "The newest finished drill's measured recovery point (age of the snapshot it restored).", backupLabels, nil),
		clockSync:    prometheus.NewDesc("steward_clock_synchronised", "1 if the system clock is synchronised (req 15), 0 if not or unknown.", []string{"state"}, nil),
		daysLeft:     prometheus.NewDesc("steward_contract_days_left", "Days to the end of the contract's last day (negative once it ended).", nil, nil),
		up:           prometheus.NewDesc("steward_catalog_up", "1 if the catalog could be read for this scrape, else 0.", nil, nil),
	}
)

// collector turns Facts into metrics at each scrape, so that what
// /metrics says is always what the catalog holds.
type collector struct{ r Reader }

func newCollector(r Reader) *collector { return &collector{r: r} }

// scrapeTimeout bounds one scrape's catalog reads.
const scrapeTimeout = 10 * time.Second

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descs.lastSuccess, descs.lastDuration, descs.bytesAdded, descs.lastFailed, descs.failures,
		descs.snapshots, descs.checkOK, descs.checkTime, descs.drillPassed, descs.drillTime, descs.drillRTO, descs.drillRPO,
		descs.clockSync, descs.daysLeft, descs.up} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	f, err := c.r.Facts(ctx)
	if err != nil {
		ch <- prometheus.MustNewConstMetric(descs.up, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(descs.up, prometheus.GaugeValue, 1)
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for _, b := range f.Backups {
		l := []string{b.Job, b.Source, b.Repository}
		if !b.LastSuccess.IsZero() {
			gauge(descs.lastSuccess, unix(b.LastSuccess), l...)
			gauge(descs.lastDuration, b.LastDuration.Seconds(), l...)
			gauge(descs.bytesAdded, float64(b.LastBytesAdded), l...)
		}
		gauge(descs.lastFailed, bool01(b.LastFailed), l...)
		ch <- prometheus.MustNewConstMetric(descs.failures, prometheus.CounterValue, float64(b.Failures), l...)
	}
	for _, r := range f.Repositories {
		gauge(descs.snapshots, float64(r.Snapshots), r.Name)
		if r.Checked {
			gauge(descs.checkOK, bool01(r.CheckOK), r.Name)
			gauge(descs.checkTime, unix(r.CheckTime), r.Name)
		}
	}
	for _, d := range f.Drills {
		l := []string{d.Job, d.Source, d.Repository}
		gauge(descs.drillPassed, bool01(d.Passed), l...)
		gauge(descs.drillTime, unix(d.Time), l...)
		gauge(descs.drillRTO, d.RTO.Seconds(), l...)
		gauge(descs.drillRPO, d.RPO.Seconds(), l...)
	}
	gauge(descs.clockSync, bool01(f.ClockState == "synchronised"), f.ClockState)
	gauge(descs.daysLeft, f.ContractDaysLeft)
}

func unix(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

func bool01(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
