package certs

import (
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"time"
)

// RecoverySheet is the printable record of one recovery kit: which
// escrow key each repository has, the kit's SHA-256, who can decrypt it
// and where it is kept. It holds no password (the kit does). It is
// embedded in the sheet as JSON.
type RecoverySheet struct {
	// KitID names the kit (e.g. RK-<time>): the sheet's id.
	KitID    string    `json:"kit_id"`
	Contract string    `json:"contract"`
	Customer string    `json:"customer"`
	Created  time.Time `json:"created"`
	// KitFile is where the kit was written; KitSHA256 the SHA-256 (hex)
	// of its bytes.
	KitFile   string `json:"kit_file"`
	KitSHA256 string `json:"kit_sha256"`
	// KitLocation says where the kit is kept (recovery.kit_location).
	KitLocation   string `json:"kit_location"`
	ResticVersion string `json:"restic_version"`
	// Recipients are the age public keys the kit is encrypted to.
	Recipients   []string                  `json:"recipients"`
	Rotated      bool                      `json:"rotated"`
	Repositories []RecoverySheetRepository `json:"repositories"`
}

// RecoverySheetRepository is one repository on the sheet.
type RecoverySheetRepository struct {
	Name     string `json:"name"`
	Role     string `json:"role"`
	Location string `json:"location"`
	KeyID    string `json:"key_id"`
	// Removed are the older escrow keys the kit's rotation removed.
	Removed []string `json:"removed_key_ids,omitempty"`
}

func (s *RecoverySheet) validate() error {
	var probs []string
	if s.KitID == "" {
		probs = append(probs, "kit_id is empty")
	}
	if b, err := hex.DecodeString(s.KitSHA256); err != nil || len(b) != 32 {
		probs = append(probs, fmt.Sprintf("kit_sha256 %q is not a hex SHA-256", s.KitSHA256))
	}
	if len(s.Recipients) == 0 {
		probs = append(probs, "no recipient")
	}
	for i, r := range s.Repositories {
		if r.KeyID == "" {
			probs = append(probs, fmt.Sprintf("repositories[%d] (%s) has no key_id", i, r.Name))
		}
	}
	if len(probs) > 0 {
		return fmt.Errorf("recovery sheet: %w: %s", ErrInvalidEvidence, strings.Join(probs, "; "))
	}
	return nil
}

// RenderRecoverySheet lays out the recovery sheet (復旧キット管理票) and
// writes the unsigned PDF to w, with the sheet embedded as JSON.
func RenderRecoverySheet(w io.Writer, s *RecoverySheet, opts RenderOptions) (*Rendered, error) {
	if err := s.validate(); err != nil {
		return nil, err
	}
	r, att, err := startJSONReport(s, reportHead{Kind: KindRecovery, ID: s.KitID, File: "recovery-sheet-" + s.KitID, Contract: s.Contract,
		JA: "復旧キット管理票", EN: "Recovery Kit Sheet", TitleID: s.KitID}, opts)
	if err != nil {
		return nil, err
	}
	defer att.close()
	r.para("Steward のホストが失われても、各リポジトリは下記の退避鍵 (エスクロー鍵) と復旧キットで、Steward を使わず restic だけで復元できます。復旧キットは下記の受取人の age 鍵で暗号化されており、パスワードは本書にもこのホストにも記録されていません。キットは下記の場所に保管し、契約終了時の消去後は破棄してください。",
		"If Steward's host is lost, each repository below still restores with plain restic, without Steward, using its escrow key and the recovery kit. The kit is encrypted to the age keys of the recipients below; no password is on this sheet or on the host. Keep the kit where stated below and destroy it once the contract's data has been erased.")

	r.section("復旧キット", "Recovery kit")
	r.kv("キット番号", "Kit ID", s.KitID)
	r.kv("契約番号", "Contract ID", s.Contract)
	r.kv("顧客", "Customer", s.Customer)
	r.kv("発行者", "Issuer", opts.Issuer.Organisation)
	r.kv("作成日時", "Created", r.time(s.Created))
	r.kv("ファイル", "Kit file", s.KitFile)
	r.kvHash("キット SHA-256", "Kit SHA-256", s.KitSHA256)
	r.kv("保管場所", "Kept at", s.KitLocation)
	r.kv("restic", "restic version", s.ResticVersion)
	rot := "いいえ no (older escrow keys, if any, still open their repositories)"
	if s.Rotated {
		rot = "はい yes (older escrow keys were removed: older kits open nothing)"
	}
	r.kv("鍵の更新", "Rotated", rot)
	for i, rc := range s.Recipients {
		r.kvHash(fmt.Sprintf("受取人 %d", i+1), fmt.Sprintf("Recipient %d (age)", i+1), rc)
	}

	r.section("リポジトリと退避鍵", "Repositories and escrow keys")
	for _, rp := range s.Repositories {
		r.kv("リポジトリ", "Repository", rp.Name+" ("+rp.Role+")")
		r.kv("場所", "Location", rp.Location)
		r.kvHash("退避鍵 ID", "Escrow key ID", rp.KeyID)
		if len(rp.Removed) > 0 {
			r.kvHash("削除した旧鍵", "Old keys removed", strings.Join(rp.Removed, ", "))
		}
	}

	r.section("使い方", "How to use the kit")
	r.para("1. age -d -i <識別鍵ファイル> -o kit.json <キット>  2. 各リポジトリの password をファイル (0600) に書き、RESTIC_REPOSITORY=<location>、RESTIC_PASSWORD_FILE=<ファイル>、S3 の場合は AWS_ACCESS_KEY_ID、AWS_SECRET_ACCESS_KEY、AWS_DEFAULT_REGION を設定して restic snapshots / restic restore を実行します。手順は docs/runbook-restore.md にあります。",
		"1. age -d -i <identity file> -o kit.json <kit>  2. Write each repository's password to a file (mode 0600), set RESTIC_REPOSITORY=<location>, RESTIC_PASSWORD_FILE=<file> and, for S3, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_DEFAULT_REGION, then run restic snapshots / restic restore. The procedure is in docs/runbook-restore.md.")

	if err := r.finish(w, att); err != nil {
		return nil, err
	}
	return &Rendered{Kind: KindRecovery, ID: s.KitID, DataSHA256: att.sha}, nil
}
