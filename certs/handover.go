package certs

import (
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"time"
)

// HandoverReceipt is the record of one hand-over export (req 4): which
// snapshot of each source was handed over, what was written, and the
// SHA-256 of the manifest that lists every file with its own SHA-256. It
// is embedded in the receipt as JSON. It names no file: the manifest,
// which the successor receives with the data, does.
type HandoverReceipt struct {
	ExportID string `json:"export_id"`
	Contract string `json:"contract"`
	Customer string `json:"customer"`
	// Operator is who ran the export.
	Operator string    `json:"operator"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	// Manifest is the manifest's file name in the export directory and
	// ManifestSHA256 the SHA-256 (hex) of its bytes.
	Manifest       string            `json:"manifest"`
	ManifestSHA256 string            `json:"manifest_sha256"`
	Sources        []HandoverSourceR `json:"sources"`
	// Files and Bytes count every data file written (the manifest's list).
	Files int64 `json:"files"`
	Bytes int64 `json:"bytes"`
}

// HandoverSourceR is one source on the receipt.
type HandoverSourceR struct {
	Job          string    `json:"job"`
	Source       string    `json:"source"`
	Kind         string    `json:"kind"`
	Repository   string    `json:"repository"`
	SnapshotID   string    `json:"snapshot_id"`
	SnapshotTime time.Time `json:"snapshot_time"`
	// Items counts the source's content: files (path), tables with data
	// (postgres), objects (s3); DataBytes is its size.
	Items     int64 `json:"items"`
	DataBytes int64 `json:"data_bytes"`
	// Files and Bytes count the files written for the source.
	Files int64 `json:"files"`
	Bytes int64 `json:"bytes"`
}

// validate refuses a receipt that is incomplete.
func (h *HandoverReceipt) validate() error {
	var probs []string
	if h.ExportID == "" {
		probs = append(probs, "export_id is empty")
	}
	if h.Contract == "" {
		probs = append(probs, "contract is empty")
	}
	if b, err := hex.DecodeString(h.ManifestSHA256); err != nil || len(b) != 32 {
		probs = append(probs, fmt.Sprintf("manifest_sha256 %q is not a hex SHA-256", h.ManifestSHA256))
	}
	if len(h.Sources) == 0 {
		probs = append(probs, "no source was handed over")
	}
	for i, s := range h.Sources {
		if s.SnapshotID == "" {
			probs = append(probs, fmt.Sprintf("sources[%d] (%s) has no snapshot_id", i, s.Source))
		}
	}
	if len(probs) > 0 {
		return fmt.Errorf("hand-over receipt: %w: %s", ErrInvalidEvidence, strings.Join(probs, "; "))
	}
	return nil
}

// itemsLabel names what Items counts for a source kind.
func itemsLabel(kind string) string {
	switch kind {
	case "path":
		return "ファイル files"
	case "postgres":
		return "表 tables"
	case "s3":
		return "オブジェクト objects"
	}
	return ""
}

// fileCount is "1 file" or "n files".
func fileCount(n int64) string {
	if n == 1 {
		return "1 file"
	}
	return thousands(n) + " files"
}

// RenderHandoverReceipt lays out the hand-over receipt (データ引渡受領書)
// and writes the unsigned PDF to w, with the receipt embedded as JSON.
func RenderHandoverReceipt(w io.Writer, h *HandoverReceipt, opts RenderOptions) (*Rendered, error) {
	if err := h.validate(); err != nil {
		return nil, err
	}
	r, att, err := startJSONReport(h, reportHead{Kind: KindHandover, ID: h.ExportID, File: "handover-" + h.ExportID, Contract: h.Contract,
		JA: "データ引渡書", EN: "Data Hand-over Receipt", TitleID: h.ExportID}, opts)
	if err != nil {
		return nil, err
	}
	defer att.close()
	r.para("契約終了に伴い、下記の各ソースの最新スナップショットを、Steward や restic を用いずに読み込める形式 (ファイルは tar、データベースは pg_dump カスタム形式と SQL、バケットはキーごとのファイル) で書き出しました。書き出した全ファイルのサイズと SHA-256 はマニフェストに記載され、その SHA-256 を本書に記載します。",
		"At the end of the contract, the latest snapshot of each source below was exported in formats that load without Steward or restic (files as a tar, databases as a pg_dump custom-format file and plain SQL, buckets as one file per object key). The manifest lists every file written with its size and SHA-256; its own SHA-256 is given here.")

	r.section("引渡情報", "Hand-over")
	r.kv("引渡番号", "Export ID", h.ExportID)
	r.kv("契約番号", "Contract ID", h.Contract)
	r.kv("顧客", "Customer", h.Customer)
	r.kv("発行者", "Issuer", opts.Issuer.Organisation)
	r.kv("署名者", "Signer", opts.Issuer.Signer)
	r.kv("実施者", "Exported by", h.Operator)
	r.kv("開始", "Started", r.time(h.Started))
	r.kv("終了", "Finished", r.time(h.Finished))
	r.kv("ファイル数", "Files written", thousands(h.Files))
	r.kv("総バイト数", "Bytes written", humanBytes(h.Bytes))
	r.kv("マニフェスト", "Manifest", h.Manifest)
	r.kvHash("マニフェスト SHA-256", "Manifest SHA-256", h.ManifestSHA256)
	r.kvHash("記録 SHA-256", "Record SHA-256", att.sha)
	r.para("各ソースのファイルは引渡先ディレクトリの <ジョブ>/<ソース>/ にあります。マニフェストの SHA-256 は、同じディレクトリの handover-manifest.json.sha256 でも確認できます (sha256sum -c)。",
		"Each source's files are under <job>/<source>/ in the export directory. The manifest's SHA-256 can also be checked with handover-manifest.json.sha256 in the same directory (sha256sum -c).")

	for i, s := range h.Sources {
		r.section(fmt.Sprintf("ソース %d", i+1), fmt.Sprintf("Source %d: %s / %s", i+1, s.Job, s.Source))
		r.kv("種別", "Kind", s.Kind)
		r.kv("リポジトリ", "Repository", s.Repository)
		r.kvHash("スナップショット", "Snapshot", s.SnapshotID)
		r.kv("取得時刻", "Snapshot time", r.time(s.SnapshotTime))
		r.kv("内容", "Content", thousands(s.Items)+" "+itemsLabel(s.Kind)+", "+humanBytes(s.DataBytes))
		r.kv("書出", "Written", fileCount(s.Files)+", "+humanBytes(s.Bytes)+" — "+s.Job+"/"+s.Source+"/")
	}

	if err := r.finish(w, att); err != nil {
		return nil, err
	}
	return &Rendered{Kind: KindHandover, ID: h.ExportID, DataSHA256: att.sha}, nil
}
