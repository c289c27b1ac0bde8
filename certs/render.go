package certs

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/go-pdf/fpdf"
	"github.com/klauspost/compress/zstd"

	"steward/internal/clock"
)

// DefaultFontPath is where Debian's fonts-ipaexfont-gothic installs IPAex
// Gothic.
const DefaultFontPath = "/usr/share/fonts/opentype/ipaexfont-gothic/ipaexg.ttf"

// Report kinds, recorded in each PDF's Keywords and returned by Verify.
const (
	KindCertificate = "deletion-certificate"
	KindDrill       = "drill-report"
	KindCapacity    = "capacity-report"
	KindHandover    = "handover-receipt"
	KindRecovery    = "recovery-sheet"
)

// RenderOptions are the settings shared by every report.
type RenderOptions struct {
	// FontPath is the IPAex Gothic TrueType file; DefaultFontPath when empty.
	FontPath string
	// Location is the one configured zone every time is printed in;
	// Asia/Tokyo when nil.
	Location *time.Location
	// Clock dates drill and capacity reports; clock.System when nil. The
	// certificate is dated by its evidence's issue time.
	Clock clock.Clock
	// Issuer names the organisation and signer on drill and capacity
	// reports (the certificate takes them from its evidence).
	Issuer Issuer
	// TempDir holds the compressed data while a report is laid out;
	// os.TempDir() when empty.
	TempDir string
	// AuditHead is the audit-log head the report saw when it was made
	// (app.WriteSignedReport sets it). It is printed in every page's
	// footer and recorded in the signed Keywords; nil prints nothing.
	AuditHead *AuditHead
	// Specimen marks every page SPECIMEN / 見本 and records
	// steward.specimen=yes in the signed Keywords. RenderCertificate
	// always sets it.
	Specimen bool
}

// Rendered describes a rendered, not yet signed, report.
type Rendered struct {
	Kind string
	ID   string
	// DataSHA256 is the SHA-256 (hex) of the embedded data's uncompressed
	// JSON, as printed on the report.
	DataSHA256 string
	// Objects summarises the evidence's object list (certificates only).
	Objects ObjectsSummary
}

// report is one document being laid out.
type report struct {
	f      *fpdf.Fpdf
	zone   *clock.Zoned
	kind   string
	id     string
	issued time.Time
	// head and specimen are RenderOptions.AuditHead and .Specimen.
	head     *AuditHead
	specimen bool
	// valueSize overrides the font size of kv values when not zero.
	valueSize float64
	// keepText wraps text with splitText instead of fpdf's SplitText,
	// which drops the kanji at each line break, and prints ≤ and ≥ with
	// glyphs the font has. Drill and capacity reports set it.
	keepText bool
}

const (
	fontFamily = "ipaexg"
	pageW      = 210.0
	margin     = 15.0
	bodyW      = pageW - 2*margin
	labelW     = 58.0
	lineH      = 5.0
)

func newReport(kind, id string, issued time.Time, opts RenderOptions) (*report, error) {
	if err := validHead(opts.AuditHead); err != nil {
		return nil, err
	}
	loc := opts.Location
	if loc == nil {
		var err error
		if loc, err = clock.LoadZone(""); err != nil {
			return nil, err
		}
	}
	fontPath := opts.FontPath
	if fontPath == "" {
		fontPath = DefaultFontPath
	}
	font, err := os.ReadFile(fontPath)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s: %w", fontPath, ErrFontMissing)
		}
		return nil, fmt.Errorf("read report font: %w", err)
	}
	f := fpdf.New("P", "mm", "A4", "")
	f.AddUTF8FontFromBytes(fontFamily, "", font)
	if f.Err() {
		return nil, fmt.Errorf("load report font %s: %v (use IPAex Gothic from fonts-ipaexfont-gothic)", fontPath, f.Error())
	}
	r := &report{f: f, zone: clock.New(loc, nil), kind: kind, id: id, issued: issued, head: opts.AuditHead, specimen: opts.Specimen}
	f.SetMargins(margin, margin, margin)
	f.SetAutoPageBreak(true, 20)
	// fpdf writes dates without an offset: give them in UTC.
	f.SetCreationDate(issued.UTC())
	f.SetModificationDate(issued.UTC())
	f.SetCreator("Steward", false)
	f.SetProducer("Steward", false)
	f.AliasNbPages("{nb}")
	f.SetFooterFunc(r.footer)
	f.SetHeaderFunc(r.specimenBanner)
	f.SetFont(fontFamily, "", 9)
	f.AddPage()
	return r, nil
}

func (r *report) time(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return r.zone.Format(t)
}

func (r *report) footer() {
	f := r.f
	f.SetY(-15)
	f.SetDrawColor(150, 150, 150)
	f.Line(margin, f.GetY(), pageW-margin, f.GetY())
	f.SetFont(fontFamily, "", 7.5)
	f.SetTextColor(80, 80, 80)
	f.CellFormat(bodyW-25, 6, fmt.Sprintf("管理番号 ID: %s    発行日時 Issued: %s", r.id, r.time(r.issued)), "", 0, "L", false, 0, "")
	f.CellFormat(25, 6, fmt.Sprintf("%d / {nb}", f.PageNo()), "", 0, "R", false, 0, "")
	r.footerAuditHead()
	r.specimenMark()
	f.SetTextColor(0, 0, 0)
	f.SetFont(fontFamily, "", 9)
}

// title prints the document title, Japanese first.
func (r *report) title(ja, en string) {
	f := r.f
	f.SetFont(fontFamily, "", 18)
	f.CellFormat(bodyW, 10, ja, "", 1, "C", false, 0, "")
	f.SetFont(fontFamily, "", 12)
	f.CellFormat(bodyW, 7, en, "", 1, "C", false, 0, "")
	f.Ln(3)
	f.SetFont(fontFamily, "", 9)
}

// section starts a titled section, on a new page if little room is left.
func (r *report) section(ja, en string) {
	f := r.f
	r.need(25)
	f.Ln(2)
	f.SetFont(fontFamily, "", 11)
	f.SetFillColor(225, 232, 242)
	f.CellFormat(bodyW, 7, ja+" / "+en, "", 1, "L", true, 0, "")
	f.SetFont(fontFamily, "", 9)
	f.Ln(1)
}

// need starts a new page unless h mm are left on this one.
func (r *report) need(h float64) {
	_, pageH := r.f.GetPageSize()
	_, _, _, bottom := r.f.GetMargins()
	if r.f.GetY()+h > pageH-bottom {
		r.f.AddPage()
	}
}

// kv prints a bilingual label and a wrapped value.
func (r *report) kv(ja, en, value string) {
	r.kvColor(ja, en, value, 0, 0, 0)
}

// kvHash prints a hash (a long hex string) small enough to fit one line.
func (r *report) kvHash(ja, en, value string) {
	r.valueSize = 7.5
	r.kv(ja, en, value)
	r.valueSize = 0
}

func (r *report) kvColor(ja, en, value string, cr, cg, cb int) {
	f := r.f
	if value == "" {
		value = "—"
	}
	size := 9.0
	if r.valueSize != 0 {
		size = r.valueSize
	}
	f.SetFont(fontFamily, "", size)
	lines := r.splitText(value, bodyW-labelW)
	h := float64(max(len(lines), 1)) * lineH
	r.need(h)
	x, y := f.GetXY()
	f.SetFillColor(245, 245, 245)
	f.SetFont(fontFamily, "", 8)
	f.CellFormat(labelW, h, ja+" / "+en, "B", 0, "L", true, 0, "")
	f.SetFont(fontFamily, "", size)
	f.SetTextColor(cr, cg, cb)
	for i, l := range lines {
		f.SetXY(x+labelW, y+float64(i)*lineH)
		border := ""
		if i == len(lines)-1 {
			border = "B"
		}
		f.CellFormat(bodyW-labelW, lineH, l, border, 0, "L", false, 0, "")
	}
	f.SetTextColor(0, 0, 0)
	f.SetFont(fontFamily, "", 9)
	f.SetXY(x, y+h)
}

// para prints a statement in Japanese (left) and English (right).
func (r *report) para(ja, en string) {
	f := r.f
	colW := bodyW/2 - 2
	jl := r.splitText(ja, colW)
	el := r.splitText(en, colW)
	n := max(len(jl), len(el))
	r.need(float64(n) * 4.5)
	x, y := f.GetXY()
	for i := 0; i < n; i++ {
		f.SetXY(x, y+float64(i)*4.5)
		if i < len(jl) {
			f.CellFormat(colW, 4.5, jl[i], "", 0, "L", false, 0, "")
		}
		f.SetXY(x+bodyW/2+2, y+float64(i)*4.5)
		if i < len(el) {
			f.CellFormat(colW, 4.5, el[i], "", 0, "L", false, 0, "")
		}
	}
	f.SetXY(x, y+float64(n)*4.5+1)
}

// box prints lines in a coloured, framed box (status and exceptions).
func (r *report) box(lines []string, fill [3]int, text [3]int, size float64) {
	f := r.f
	f.SetFont(fontFamily, "", size)
	var all []string
	for _, l := range lines {
		all = append(all, r.splitText(l, bodyW-6)...)
	}
	h := size * 0.5
	r.need(float64(len(all))*h + 4)
	f.SetFillColor(fill[0], fill[1], fill[2])
	f.SetDrawColor(text[0], text[1], text[2])
	f.SetTextColor(text[0], text[1], text[2])
	x, y := f.GetXY()
	f.SetLineWidth(0.5)
	f.Rect(x, y, bodyW, float64(len(all))*h+4, "FD")
	f.SetLineWidth(0.2)
	for i, l := range all {
		f.SetXY(x+3, y+2+float64(i)*h)
		f.CellFormat(bodyW-6, h, l, "", 0, "L", false, 0, "")
	}
	f.SetXY(x, y+float64(len(all))*h+6)
	f.SetTextColor(0, 0, 0)
	f.SetDrawColor(0, 0, 0)
	f.SetFont(fontFamily, "", 9)
}

// table prints a header row and rows; widths are in mm.
func (r *report) table(header []string, widths []float64, rows [][]string) {
	f := r.f
	r.need(12)
	f.SetFont(fontFamily, "", 7.5)
	f.SetFillColor(235, 235, 235)
	for i, h := range header {
		f.CellFormat(widths[i], 6, h, "1", 0, "C", true, 0, "")
	}
	f.Ln(-1)
	// Cells wrap: a row is as tall as its longest cell, so that long
	// names, paths and explanations stay inside their column.
	const lineH = 3.8
	left, _, _, _ := f.GetMargins()
	for _, row := range rows {
		lines := make([][]string, len(row))
		n := 1
		for i, c := range row {
			lines[i] = r.splitText(c, widths[i]-1.6)
			if len(lines[i]) == 0 {
				lines[i] = []string{""}
			}
			n = max(n, len(lines[i]))
		}
		h := float64(n)*lineH + 1.2
		if r.needBreak(h) {
			f.AddPage()
			f.SetFont(fontFamily, "", 7.5)
		}
		x, y := left, f.GetY()
		for i, c := range row {
			align := "L"
			if i > 0 && looksNumeric(c) {
				align = "R"
			}
			f.Rect(x, y, widths[i], h, "D")
			for j, l := range lines[i] {
				f.SetXY(x, y+0.6+float64(j)*lineH)
				f.CellFormat(widths[i], lineH, l, "", 0, align, false, 0, "")
			}
			x += widths[i]
		}
		f.SetXY(left, y+h)
	}
	f.SetFont(fontFamily, "", 9)
	f.Ln(1)
}

// glyphSubstitutes are characters IPAex Gothic lacks, with the ones it
// has for them.
var glyphSubstitutes = strings.NewReplacer("≤", "≦", "≥", "≧")

// splitText wraps txt into lines at most w mm wide in the current font,
// as fpdf's SplitText does (lines break at spaces, which are dropped, or
// within a word too long for a line), but it also breaks between Japanese
// characters and keeps every one of them: fpdf's drops the kanji it
// breaks at. A line does not start with closing punctuation (、。」…) nor
// end with opening punctuation (「（…) when it can be helped. Without
// keepText it is fpdf's SplitText.
func (r *report) splitText(txt string, w float64) []string {
	if !r.keepText {
		return r.f.SplitText(txt, w)
	}
	txt = strings.TrimRight(glyphSubstitutes.Replace(txt), "\n")
	if txt == "" {
		return nil
	}
	limit := w - 2*r.f.GetCellMargin()
	var lines []string
	for _, para := range strings.Split(txt, "\n") {
		rs := []rune(para)
		if len(rs) == 0 {
			lines = append(lines, "")
		}
		for len(rs) > 0 {
			n, width := 0, 0.0
			for n < len(rs) {
				cw := r.f.GetStringWidth(string(rs[n]))
				if n > 0 && width+cw > limit {
					break
				}
				width += cw
				n++
			}
			if n == len(rs) {
				lines = append(lines, string(rs))
				break
			}
			p := n // rs[n] does not fit: break before the last place allowed
			for p > 0 && !breakBefore(rs, p) {
				p--
			}
			if p == 0 {
				p = n
			}
			lines = append(lines, strings.TrimRightFunc(string(rs[:p]), unicode.IsSpace))
			rs = rs[p:]
			for len(rs) > 0 && unicode.IsSpace(rs[0]) {
				rs = rs[1:]
			}
		}
	}
	return lines
}

// breakBefore reports whether a line may break before rs[i] (0 < i <
// len(rs)): at a space, or next to a Japanese character, unless that
// would start a line with closing or end one with opening punctuation.
func breakBefore(rs []rune, i int) bool {
	if strings.ContainsRune("、。，．）」』】〕！？ー…・", rs[i]) || strings.ContainsRune("（「『【〔", rs[i-1]) {
		return false
	}
	return unicode.IsSpace(rs[i]) || japanese(rs[i]) || japanese(rs[i-1])
}

// japanese reports whether c is a kanji, kana or full-width character,
// between which Japanese text may break.
func japanese(c rune) bool {
	return unicode.In(c, unicode.Han, unicode.Hiragana, unicode.Katakana) ||
		c >= 0x3000 && c <= 0x303f || c >= 0xff00 && c <= 0xffef
}

func (r *report) needBreak(h float64) bool {
	_, pageH := r.f.GetPageSize()
	_, _, _, bottom := r.f.GetMargins()
	return r.f.GetY()+h > pageH-bottom
}

func looksNumeric(s string) bool {
	if s == "" {
		return false
	}
	c := s[0]
	return c >= '0' && c <= '9' || c == '-' && len(s) > 1
}

// thousands formats n with comma separators.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// humanBytes is n in binary units with the exact count.
func humanBytes(n int64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB"}
	v := float64(n)
	i := 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%s B", thousands(n))
	}
	return fmt.Sprintf("%.1f %s (%s B)", v, units[i], thousands(n))
}

// attachment is data embedded in the PDF as a file.
type attachment struct {
	name        string
	description string
	// file holds the zstd-compressed JSON (zlen bytes), in an unlinked
	// temporary file: a million-object evidence bundle is tens of MB,
	// which memory need not hold. size is the uncompressed length.
	file *os.File
	zlen int64
	size int64
	sha  string
}

func (a *attachment) close() { a.file.Close() }

// writeTo copies the compressed bytes to w.
func (a *attachment) writeTo(w io.Writer) error {
	if _, err := a.file.Seek(0, io.SeekStart); err != nil {
		return err
	}
	n, err := io.Copy(w, a.file)
	if err == nil && n != a.zlen {
		err = fmt.Errorf("embedded data: read %d of %d bytes", n, a.zlen)
	}
	return err
}

// reportHead names a report whose data is embedded as JSON: its kind and
// id, the attachment's file name (without ".json.zst"), the contract, and
// its title in Japanese and English, followed by TitleID in the PDF's
// metadata.
type reportHead struct {
	Kind, ID, File, Contract, JA, EN, TitleID string
}

// startJSONReport embeds doc as compressed JSON and starts its report:
// metadata (title, subject, author) set and the title printed. The caller
// closes the attachment.
func startJSONReport(doc any, h reportHead, opts RenderOptions) (*report, *attachment, error) {
	att, err := compressJSON(h.File+".json.zst", opts.TempDir, func(w io.Writer) error {
		return json.NewEncoder(w).Encode(doc)
	})
	if err != nil {
		return nil, nil, err
	}
	r, err := newReport(h.Kind, h.ID, now(opts), opts)
	if err != nil {
		att.close()
		return nil, nil, err
	}
	r.keepText = true // fpdf's own wrapping drops the kanji at each line break
	r.f.SetTitle(h.JA+" "+h.EN+" "+h.TitleID, true)
	r.f.SetSubject("Contract "+h.Contract, true)
	r.f.SetAuthor(opts.Issuer.Organisation, true)
	r.title(h.JA, h.EN)
	return r, att, nil
}

// compressJSON runs write into a zstd stream (in a temporary file in
// tempDir, os.TempDir() when empty), hashing the uncompressed bytes on the
// way. The caller closes the attachment.
func compressJSON(name, tempDir string, write func(io.Writer) error) (*attachment, error) {
	tmp, err := os.CreateTemp(tempDir, "steward-report-*.zst")
	if err != nil {
		return nil, fmt.Errorf("temporary file for %s: %w", name, err)
	}
	// Unlinked at once: the data lives as long as the open file.
	os.Remove(tmp.Name())
	fail := func(err error) (*attachment, error) {
		tmp.Close()
		return nil, err
	}
	zc := &countWriter{w: tmp}
	enc, err := zstd.NewWriter(zc, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(1))
	if err != nil {
		return fail(err)
	}
	h := sha256.New()
	cw := &countWriter{w: io.MultiWriter(h, enc)}
	if err := write(cw); err != nil {
		enc.Close()
		return fail(err)
	}
	if err := enc.Close(); err != nil {
		return fail(fmt.Errorf("compress %s: %w", name, err))
	}
	sum := hex.EncodeToString(h.Sum(nil))
	return &attachment{
		name:        name,
		description: "zstd-compressed JSON; SHA-256 of the uncompressed JSON: " + sum,
		file:        tmp,
		zlen:        zc.n,
		size:        cw.n,
		sha:         sum,
	}, nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// keywords is the machine-readable claim Verify reads back from the PDF's
// Info dictionary.
func keywords(kind, id, sha string) string {
	return fmt.Sprintf("steward.kind=%s; steward.id=%s; steward.data-sha256=%s", kind, id, sha)
}

func parseKeywords(s string) map[string]string {
	out := map[string]string{}
	for _, part := range strings.Split(s, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if ok {
			out[k] = v
		}
	}
	return out
}

var trailerRE = regexp.MustCompile(`trailer\s*<<\s*/Size (\d+)\s*/Root (\d+) 0 R\s*/Info (\d+) 0 R\s*>>\s*startxref\s*(\d+)\s*%%EOF\s*$`)

// finish writes the laid-out document to w, followed by an incremental
// update that embeds att as a file (streamed as is: fpdf's own attachments
// would deflate and copy it several times) and a catalog naming it.
func (r *report) finish(w io.Writer, att *attachment) error {
	f := r.f
	f.SetKeywords(keywords(r.kind, r.id, att.sha)+r.moreKeywords(), true)
	var base bytes.Buffer
	if err := f.Output(&base); err != nil {
		return fmt.Errorf("render %s: %w", r.kind, err)
	}
	m := trailerRE.FindSubmatch(base.Bytes())
	if m == nil {
		return fmt.Errorf("render %s: unexpected PDF trailer", r.kind)
	}
	size, _ := strconv.Atoi(string(m[1]))
	root, _ := strconv.Atoi(string(m[2]))
	info, _ := strconv.Atoi(string(m[3]))
	prev := string(m[4])

	cw := &countWriter{w: w}
	if _, err := cw.Write(base.Bytes()); err != nil {
		return err
	}
	fileObj, specObj, namesObj := size, size+1, size+2
	offsets := map[int]int64{}
	obj := func(n int, body string) {
		offsets[n] = cw.n
		fmt.Fprintf(cw, "%d 0 obj\n%s\nendobj\n", n, body)
	}
	offsets[fileObj] = cw.n
	fmt.Fprintf(cw, "%d 0 obj\n<< /Type /EmbeddedFile /Subtype /application#2Fzstd /Length %d /Params << /Size %d /ModDate %s >> >>\nstream\n",
		fileObj, att.zlen, att.size, pdfDate(r.issued))
	if err := att.writeTo(cw); err != nil {
		return err
	}
	io.WriteString(cw, "\nendstream\nendobj\n")
	obj(specObj, fmt.Sprintf("<< /Type /Filespec /F %s /UF %s /Desc %s /AFRelationship /Data /EF << /F %d 0 R /UF %d 0 R >> >>",
		pdfString(att.name), pdfString(att.name), pdfString(att.description), fileObj, fileObj))
	obj(namesObj, fmt.Sprintf("<< /EmbeddedFiles << /Names [%s %d 0 R] >> >>", pdfString(att.name), specObj))
	obj(root, fmt.Sprintf("<< /Type /Catalog /Pages 1 0 R /Names %d 0 R /PageMode /UseAttachments /Lang (ja) >>", namesObj))

	xref := cw.n
	fmt.Fprintf(cw, "xref\n0 1\n0000000000 65535 f \n%d 1\n%010d 00000 n \n%d 3\n", root, offsets[root], fileObj)
	for _, n := range []int{fileObj, specObj, namesObj} {
		fmt.Fprintf(cw, "%010d 00000 n \n", offsets[n])
	}
	_, err := fmt.Fprintf(cw, "trailer\n<< /Size %d /Root %d 0 R /Info %d 0 R /Prev %s >>\nstartxref\n%d\n%%%%EOF\n",
		namesObj+1, root, info, prev, xref)
	return err
}

// pdfString is s as a PDF literal string (ASCII only) or a UTF-16BE hex
// string.
func pdfString(s string) string {
	ascii := true
	for _, c := range s {
		if c < 0x20 || c > 0x7e {
			ascii = false
		}
	}
	if ascii {
		r := strings.NewReplacer(`\`, `\\`, `(`, `\(`, `)`, `\)`)
		return "(" + r.Replace(s) + ")"
	}
	var b strings.Builder
	b.WriteString("<FEFF")
	for _, u := range utf16Encode(s) {
		fmt.Fprintf(&b, "%04X", u)
	}
	b.WriteString(">")
	return b.String()
}

func utf16Encode(s string) []uint16 {
	var out []uint16
	for _, c := range s {
		if c >= 0x10000 {
			c -= 0x10000
			out = append(out, uint16(0xD800+(c>>10)), uint16(0xDC00+(c&0x3FF)))
			continue
		}
		out = append(out, uint16(c))
	}
	return out
}

func pdfDate(t time.Time) string {
	_, off := t.Zone()
	sign := "+"
	if off < 0 {
		sign, off = "-", -off
	}
	return fmt.Sprintf("(D:%s%s%02d'%02d')", t.Format("20060102150405"), sign, off/3600, off%3600/60)
}
