package certs

import (
	"encoding/hex"
	"fmt"
	"math"
	"strconv"
)

// What every report carries besides its data: the audit-log head it saw
// when it was made, and whether it is a specimen. Both are printed on every
// page and recorded in the signed Keywords, which Verify reads back.

// Keywords keys beyond kind, id and data hash.
const (
	kwSpecimen  = "steward.specimen"
	kwAuditSeq  = "steward.audit-seq"
	kwAuditHash = "steward.audit-hash"
)

// specimenText is the mark on every page of a specimen.
const specimenText = "見本 SPECIMEN"

// validHead reports whether h can be printed and recorded: a hex SHA-256.
func validHead(h *AuditHead) error {
	if h == nil {
		return nil
	}
	if b, err := hex.DecodeString(h.Hash); err != nil || len(b) != 32 {
		return fmt.Errorf("%w: audit head hash %q is not a hex SHA-256", ErrInvalidEvidence, h.Hash)
	}
	return nil
}

// moreKeywords is the specimen flag and the audit head, appended to the
// report's Keywords.
func (r *report) moreKeywords() string {
	s := "; " + kwSpecimen + "=no"
	if r.specimen {
		s = "; " + kwSpecimen + "=yes"
	}
	if r.head != nil {
		s += fmt.Sprintf("; %s=%d; %s=%s", kwAuditSeq, r.head.Seq, kwAuditHash, r.head.Hash)
	}
	return s
}

// isSpecimen reads the specimen flag from a report's Keywords. A deletion
// certificate is genuine only when it says specimen=no: one made before
// the flag existed came from arbitrary evidence and is treated as a
// specimen. Other reports are specimens only when they say so.
func isSpecimen(kind string, kw map[string]string) bool {
	if kind == KindCertificate {
		return kw[kwSpecimen] != "no"
	}
	return kw[kwSpecimen] == "yes"
}

// keywordHead reads the audit head from a report's Keywords: nil when the
// report records none, an error when what it records is malformed.
func keywordHead(kw map[string]string) (*AuditHead, error) {
	seq, hash := kw[kwAuditSeq], kw[kwAuditHash]
	if seq == "" && hash == "" {
		return nil, nil
	}
	n, err := strconv.ParseUint(seq, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("the audit-log sequence number %q it records is not a number", seq)
	}
	h := &AuditHead{Seq: n, Hash: hash}
	if err := validHead(h); err != nil {
		return nil, fmt.Errorf("the audit-log hash %q it records is not a hex SHA-256", hash)
	}
	return h, nil
}

// footerAuditHead prints the audit head the report saw under the footer's
// first line.
func (r *report) footerAuditHead() {
	if r.head == nil {
		return
	}
	f := r.f
	f.SetXY(margin, f.GetY()+6)
	f.SetFont(fontFamily, "", 6.5)
	f.CellFormat(bodyW, 3.5, fmt.Sprintf("発行時の監査ログ先頭 Audit-log head at issue: seq %d  %s", r.head.Seq, r.head.Hash), "", 0, "L", false, 0, "")
}

// specimenBanner is the page header of a specimen: a red banner in the
// top margin saying what the document is. It leaves the position where the
// page's content starts.
func (r *report) specimenBanner() {
	if !r.specimen {
		return
	}
	f := r.f
	x, y := f.GetXY()
	f.SetFillColor(180, 0, 0)
	f.SetTextColor(255, 255, 255)
	f.SetFont(fontFamily, "", 8.5)
	f.SetXY(margin, 3.5)
	f.CellFormat(bodyW, 4.5, specimenText+" — この文書は見本です。erase が自ら検証した証跡から発行したものではなく、何も証明しません。", "", 2, "C", true, 0, "")
	f.CellFormat(bodyW, 4.5, "SPECIMEN — not issued by erase from its own verified evidence; it certifies nothing.", "", 0, "C", true, 0, "")
	f.SetTextColor(0, 0, 0)
	f.SetFont(fontFamily, "", 9)
	f.SetXY(x, y)
}

// specimenMark lays a large, translucent diagonal mark over the page (it
// is drawn from the footer, after the page's content).
func (r *report) specimenMark() {
	if !r.specimen {
		return
	}
	f := r.f
	w, h := f.GetPageSize()
	cx, cy := w/2, h/2
	f.SetFont(fontFamily, "", 64)
	tw := f.GetStringWidth(specimenText)
	f.SetTextColor(200, 0, 0)
	f.SetAlpha(0.2, "Normal")
	f.TransformBegin()
	f.TransformRotate(math.Atan2(h, w)*180/math.Pi, cx, cy)
	f.Text(cx-tw/2, cy+8, specimenText)
	f.TransformEnd()
	f.SetAlpha(1, "Normal")
}
