package certs

import (
	"fmt"
	"io"
	"slices"
	"strings"
)

var kindLabels = map[TargetKind]string{
	KindS3Bucket:        "S3バケット S3 bucket",
	KindRepositoryLocal: "バックアップリポジトリ(ローカル) backup repository (local)",
	KindRepositoryS3:    "バックアップリポジトリ(S3) backup repository (S3)",
	KindPostgres:        "PostgreSQLデータベース PostgreSQL database",
	KindPath:            "ファイルパス file path",
	KindCache:           "キャッシュ cache",
	KindScratch:         "訓練用一時領域 drill scratch",
	KindCatalog:         "管理カタログ Steward catalog",
	KindAccount:         "特殊アカウント special account",
	KindSealedSecret:    "封印済み秘密情報 sealed secret",
	KindRepositoryKey:   "リポジトリ鍵 repository key",
}

var methodLabels = map[Method]string{
	MethodCryptoErase:          "暗号化消去 cryptographic erase",
	MethodLogicalDelete:        "論理削除 logical deletion",
	MethodCredentialRevocation: "認証情報の失効 credential revocation",
}

func resultLabel(r Result) string {
	switch r {
	case ResultPassed:
		return "合格 passed"
	case ResultFailed:
		return "不合格 failed"
	}
	return "未実施 missing"
}

// RenderCertificate lays out a SPECIMEN of the deletion certificate for
// ev and writes the unsigned PDF to w, with the evidence bundle embedded
// (zstd) and its SHA-256 printed. Every page is marked 見本 SPECIMEN (a
// banner and a diagonal mark), the certification statement is replaced by
// one that says the document certifies nothing, and the signed Keywords
// record steward.specimen=yes, which Verify refuses unless asked to accept
// specimens. A deletion certificate is issued only by erase, from its own
// verified evidence, through IssueCertificate; any other evidence (a file
// an operator hands to `steward certificate render`) yields a specimen.
func RenderCertificate(w io.Writer, ev *Evidence, opts RenderOptions) (*Rendered, error) {
	opts.Specimen = true
	return renderCertificate(w, ev, opts, "")
}

// IssueCertificate lays out the deletion certificate itself (not a
// specimen, unless opts.Specimen says so), as RenderCertificate does
// otherwise. It is the seam for erase, the one package allowed to call it:
// erase renders its certificate from the evidence it produced and verified
// itself. No command renders operator-supplied evidence through it.
func IssueCertificate(w io.Writer, ev *Evidence, opts RenderOptions) (*Rendered, error) {
	return renderCertificate(w, ev, opts, "")
}

// renderCertificate can print a hash claim other than the evidence's own
// (claim != ""): tests use it to forge a certificate.
func renderCertificate(w io.Writer, ev *Evidence, opts RenderOptions, claim string) (*Rendered, error) {
	if err := ev.Validate(); err != nil {
		return nil, err
	}
	var total ObjectsSummary
	var perTarget map[string]ObjectsSummary
	att, err := compressJSON("evidence-"+ev.CertificateID+".json.zst", opts.TempDir, func(w io.Writer) error {
		var err error
		total, perTarget, err = ev.writeJSON(w)
		return err
	})
	if err != nil {
		return nil, err
	}
	defer att.close()
	shown := att.sha
	if claim != "" {
		shown = claim
	}
	r, err := newReport(KindCertificate, ev.CertificateID, ev.Issued, opts)
	if err != nil {
		return nil, err
	}
	r.keepText = true // fpdf's own wrapping drops the kanji at each line break
	f := r.f
	title := "データ消去証明書 Certificate of Data Deletion "
	if opts.Specimen {
		title = specimenText + ": " + title
	}
	f.SetTitle(title+ev.CertificateID, true)
	f.SetSubject("Contract "+ev.Contract.ID, true)
	f.SetAuthor(ev.Issuer.Organisation, true)

	if opts.Specimen {
		r.title("データ消去証明書(見本)", "Certificate of Data Deletion (SPECIMEN)")
		r.box([]string{"見本 SPECIMEN: この文書は見本です。下記の証跡は erase が自ら実施・検証した消去の記録として発行されたものではなく、この文書はいかなる消去も証明しません。",
			"This document is a specimen. The evidence below was not issued by erase as the record of an erasure it ran and verified itself; this document certifies no erasure."},
			[3]int{253, 232, 232}, [3]int{180, 0, 0}, 10)
	} else {
		r.title("データ消去証明書", "Certificate of Data Deletion")
		r.para("当社は、下記契約に係る全ての情報(バックアップ等による複製を含む)を下記の方法により消去したことを証明します。",
			"We certify that all information relating to the contract below, including copies made by backups, was erased by the methods listed below.")
	}
	r.certificateStatus(ev)
	r.certificateInfo(ev, att, shown, total)
	r.certificateTargets(ev.Targets, perTarget)
	r.certificateAccounts(ev.Accounts)
	r.certificateKits(ev.RecoveryKits)
	r.certificateAttestations(ev.Attestations)
	r.certificateReferences()

	att.sha = shown
	if err := r.finish(w, att); err != nil {
		return nil, err
	}
	return &Rendered{Kind: KindCertificate, ID: ev.CertificateID, DataSHA256: shown, Objects: total}, nil
}

// certificateStatus prints the status box: green when everything was
// erased, red with the list of exceptions otherwise.
func (r *report) certificateStatus(ev *Evidence) {
	status := ev.Status()
	exc := ev.Exceptions()
	if len(exc) == 0 {
		r.box([]string{"状態 Status: 消去完了 / " + status}, [3]int{230, 245, 230}, [3]int{0, 110, 0}, 12)
		return
	}
	lines := []string{"状態 Status: 例外あり / " + status,
		fmt.Sprintf("例外 Exceptions (%d):", len(exc))}
	for i, e := range exc {
		lines = append(lines, fmt.Sprintf("%d. %s", i+1, e))
	}
	r.box(lines, [3]int{253, 232, 232}, [3]int{180, 0, 0}, 11)
}

// certificateInfo prints the certificate's particulars: issuer, contract,
// people, clock, audit head and the embedded evidence, whose hash is
// printed as shown.
func (r *report) certificateInfo(ev *Evidence, att *attachment, shown string, total ObjectsSummary) {
	r.section("証明書情報", "Certificate")
	r.kv("管理番号", "Certificate ID", ev.CertificateID)
	r.kv("発行日時", "Issued", r.time(ev.Issued))
	r.kv("発行者", "Issuer", ev.Issuer.Organisation)
	r.kv("署名者", "Signer", ev.Issuer.Signer)
	r.kv("顧客", "Customer", ev.Contract.Customer)
	r.kv("契約番号", "Contract ID", ev.Contract.ID)
	r.kv("サービス", "Service", ev.Contract.Service)
	if ev.Contract.EndDate != "" {
		r.kv("契約終了日", "Contract end", ev.Contract.EndDate)
	}
	r.kv("消去計画", "Erase plan", ev.PlanID)
	r.kv("実施者", "Operator", ev.Operator)
	r.kv("承認者", "Approver", ev.Approver)
	r.kv("タイムゾーン", "Time zone", ev.Clock.Zone)
	r.kv("時刻同期", "Clock sync", ev.Clock.Sync.String())
	r.kv("監査ログ番号", "Audit head seq", fmt.Sprint(ev.AuditHead.Seq))
	r.kvHash("監査ログハッシュ", "Audit head hash", ev.AuditHead.Hash)
	r.kvHash("証跡 SHA-256", "Evidence SHA-256", shown)
	r.kv("証跡", "Evidence bundle", fmt.Sprintf("%s (%s; JSON %s, %s; objects %s, %s)", att.name,
		"zstd", humanBytes(att.size), "SHA-256 over the uncompressed JSON", thousands(total.Count), humanBytes(total.Bytes)))
}

// certificateTargets prints one block per erased target, with its object
// count in the evidence from perTarget.
func (r *report) certificateTargets(targets []Target, perTarget map[string]ObjectsSummary) {
	f := r.f
	r.section("消去対象", "Targets")
	for i, t := range targets {
		r.need(60)
		f.SetFont(fontFamily, "", 10)
		f.CellFormat(bodyW, 7, fmt.Sprintf("%d. %s  [%s]", i+1, t.Name, t.Kind), "", 1, "L", false, 0, "")
		f.SetFont(fontFamily, "", 9)
		r.kv("種別", "Kind", kindLabels[t.Kind])
		r.kv("場所", "Location", t.Location)
		r.kv("リージョン", "Region", t.Region)
		r.kv("消去前の件数", "Counts before deletion", countsText(t.Before))
		if c, ok := perTarget[t.ID]; ok {
			r.kv("証跡のオブジェクト", "Objects in evidence", fmt.Sprintf("%s (%s)", thousands(c.Count), humanBytes(c.Bytes)))
		}
		r.kv("方式", "Method", fmt.Sprintf("%s (NIST SP 800-88: %s)", methodLabels[t.Method], t.NIST))
		r.kv("開始", "Started", r.time(t.Started))
		r.kv("終了", "Finished", r.time(t.Finished))
		r.kv("検証方法", "Verification", t.Verification.Method)
		res := resultLabel(t.Verification.Result)
		if t.Verification.Detail != "" {
			res += ": " + t.Verification.Detail
		}
		if t.Verification.Result == ResultPassed {
			r.kv("検証結果", "Result", res)
		} else {
			r.kvColor("検証結果", "Result", res, 180, 0, 0)
		}
		if t.Exception != "" {
			r.kvColor("例外", "Exception", t.Exception, 180, 0, 0)
		}
		f.Ln(2)
	}
}

// certificateAccounts prints the table of revoked special accounts and
// credentials.
func (r *report) certificateAccounts(accounts []Account) {
	r.section("失効した特殊アカウント・認証情報", "Special accounts and credentials revoked (req 27)")
	if len(accounts) == 0 {
		r.para("なし", "None")
		return
	}
	rows := make([][]string, 0, len(accounts))
	for _, a := range accounts {
		res := resultLabel(a.Verification.Result)
		if a.Exception != "" {
			res += " / 例外 exception: " + a.Exception
		}
		rows = append(rows, []string{a.Kind, a.Name, a.Location, r.time(a.Revoked), res})
	}
	r.table([]string{"種別 Kind", "名前 Name", "場所 Location", "失効日時 Revoked", "検証 Verified"},
		[]float64{30, 32, 32, 48, 38}, rows)
}

// certificateKits prints the recovery kits whose escrow keys were deleted,
// and asks each recipient to destroy their copy.
func (r *report) certificateKits(kits []RecoveryKit) {
	if len(kits) == 0 {
		return
	}
	r.section("復旧キット", "Recovery kits (escrow keys)")
	r.para("下記の復旧キットが保持するエスクロー鍵は、全ての鍵ファイルとともに削除されました(暗号化消去)。キットはもはや何も開けません。各受取人は保有するキットを破棄してください。",
		"The escrow keys these recovery kits held were deleted with every key file (cryptographic erase): the kits open nothing any more. Each recipient below is asked to destroy their copy.")
	for _, k := range kits {
		r.kv("作成日時", "Kit made", k.Created)
		r.kvHash("キット SHA-256", "Kit SHA-256", k.SHA256)
		if k.Location != "" {
			r.kv("保管場所", "Kept at", k.Location)
		}
		names := make([]string, 0, len(k.EscrowKeys))
		for name := range k.EscrowKeys {
			names = append(names, name)
		}
		slices.Sort(names)
		for _, name := range names {
			r.kv("エスクロー鍵", "Escrow key", name+": "+k.EscrowKeys[name]+" (削除済み deleted)")
		}
		for _, rcp := range k.Recipients {
			r.kv("破棄依頼", "Please destroy", "受取人 recipient "+rcp)
		}
		r.f.Ln(2)
	}
}

// certificateAttestations prints the table of provider attestations and
// third-party reports.
func (r *report) certificateAttestations(attestations []Attestation) {
	r.section("提供者の証明・第三者報告", "Provider attestations and third-party reports (req 24, 25)")
	if len(attestations) == 0 {
		r.para("なし", "None")
		return
	}
	rows := make([][]string, 0, len(attestations))
	for _, a := range attestations {
		rows = append(rows, []string{a.Title, a.Issuer, a.Date, a.Reference})
	}
	r.table([]string{"名称 Title", "発行者 Issuer", "日付 Date", "参照 Reference"}, []float64{70, 45, 25, 40}, rows)
}

// certificateReferences prints the standard references and how to check
// the attached evidence.
func (r *report) certificateReferences() {
	r.section("参照規格", "Standard references")
	r.para("NIST SP 800-88 Rev. 1/2 の分類: 暗号化消去 = Purge(鍵の破棄)、論理削除 = Clear、認証情報の失効 = アクセス手段の除去。",
		"NIST SP 800-88 Rev. 1/2 categories: cryptographic erase = Purge (key destruction), logical deletion = Clear, credential revocation = removal of access.")
	r.para("機械可読な証跡(JSON, zstd 圧縮)をこのPDFに添付しています。SHA-256 は圧縮前の JSON に対する値です。`steward verify` で署名と証跡を検証できます。",
		"The machine-readable evidence (JSON, zstd-compressed) is attached to this PDF. The SHA-256 is over the uncompressed JSON. `steward verify` checks the signature and the evidence.")
}

func countsText(c Counts) string {
	var parts []string
	add := func(ja, en string, n int64) {
		if n != 0 {
			parts = append(parts, fmt.Sprintf("%s %s %s", ja, en, thousands(n)))
		}
	}
	add("オブジェクト", "objects", c.Objects)
	add("バージョン", "versions", c.Versions)
	add("削除マーカー", "delete markers", c.DeleteMarkers)
	add("未完了アップロード", "unfinished uploads", c.UnfinishedUploads)
	add("テーブル", "tables", c.Tables)
	add("ファイル", "files", c.Files)
	if c.Bytes != 0 {
		parts = append(parts, "容量 bytes "+humanBytes(c.Bytes))
	}
	if len(parts) == 0 {
		return "0"
	}
	return strings.Join(parts, ", ")
}
