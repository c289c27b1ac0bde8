package certs

import (
	"fmt"
	"math"
	"strconv"

	"github.com/go-pdf/fpdf"
)

// series is one line of a chart.
type series struct {
	name   string
	values []float64
	rgb    [3]int
	dashed bool
	// cross draws each point as a cross, unconnected (drills that failed
	// and so have no figure to plot).
	cross bool
}

// lineChart draws a titled line chart at the current position, full body
// width and h mm high, with a labelled x axis and a y axis in unit.
// Points with NaN values are skipped.
func (r *report) lineChart(title, unit string, labels []string, lines []series, h float64) {
	f := r.f
	r.need(h + 12)
	f.SetFont(fontFamily, "", 9)
	f.CellFormat(bodyW, 6, title, "", 1, "L", false, 0, "")
	x0, y0 := f.GetX()+14, f.GetY()+2
	w := bodyW - 18
	ymax := 0.0
	for _, s := range lines {
		for _, v := range s.values {
			if !math.IsNaN(v) {
				ymax = math.Max(ymax, v)
			}
		}
	}
	ymax = niceCeil(ymax * 1.15)
	// Frame and grid.
	f.SetDrawColor(120, 120, 120)
	f.SetLineWidth(0.2)
	f.Rect(x0, y0, w, h, "D")
	f.SetFont(fontFamily, "", 6.5)
	f.SetDrawColor(220, 220, 220)
	for i := 0; i <= 4; i++ {
		y := y0 + h - h*float64(i)/4
		if i > 0 && i < 4 {
			f.Line(x0, y, x0+w, y)
		}
		f.SetXY(x0-14, y-2)
		f.CellFormat(13, 4, trimFloat(ymax*float64(i)/4), "", 0, "R", false, 0, "")
	}
	_ = unit
	n := len(labels)
	xAt := func(i int) float64 {
		if n <= 1 {
			return x0 + w/2
		}
		return x0 + 3 + (w-6)*float64(i)/float64(n-1)
	}
	yAt := func(v float64) float64 { return y0 + h - h*v/ymax }
	step := max(1, (n+7)/8)
	for i, l := range labels {
		if i%step != 0 && i != n-1 {
			continue
		}
		f.SetXY(xAt(i)-12, y0+h+0.5)
		f.CellFormat(24, 4, l, "", 0, "C", false, 0, "")
	}
	// Lines and points.
	legendX := x0 + 2
	for _, s := range lines {
		f.SetDrawColor(s.rgb[0], s.rgb[1], s.rgb[2])
		f.SetFillColor(s.rgb[0], s.rgb[1], s.rgb[2])
		f.SetLineWidth(0.5)
		if s.dashed {
			f.SetDashPattern([]float64{1.5, 1}, 0)
		}
		prev := -1
		for i, v := range s.values {
			if math.IsNaN(v) {
				continue
			}
			if s.cross {
				drawCross(f, xAt(i), yAt(v))
				continue
			}
			if prev >= 0 {
				f.Line(xAt(prev), yAt(s.values[prev]), xAt(i), yAt(v))
			}
			if !s.dashed {
				f.Rect(xAt(i)-0.7, yAt(v)-0.7, 1.4, 1.4, "F")
			}
			prev = i
		}
		f.SetDashPattern(nil, 0)
		// Legend entry.
		if s.cross {
			drawCross(f, legendX+3, y0+3)
		} else {
			f.Line(legendX, y0+3, legendX+6, y0+3)
		}
		f.SetXY(legendX+7, y0+1)
		f.SetFont(fontFamily, "", 6.5)
		f.CellFormat(f.GetStringWidth(s.name)+2, 4, s.name, "", 0, "L", false, 0, "")
		legendX += f.GetStringWidth(s.name) + 14
	}
	f.SetLineWidth(0.2)
	f.SetDrawColor(0, 0, 0)
	f.SetFont(fontFamily, "", 9)
	f.SetXY(margin, y0+h+6)
}

// drawCross draws a small cross centred on x, y in the current colour.
func drawCross(f *fpdf.Fpdf, x, y float64) {
	const d = 1.1
	f.Line(x-d, y-d, x+d, y+d)
	f.Line(x-d, y+d, x+d, y-d)
}

// niceCeil rounds v up to 1, 2, 4 or 8 times a power of ten (1 for
// v <= 0), so that quarters of it are short numbers.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 4, 8, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

// trimFloat prints an axis value with at most four significant digits.
func trimFloat(v float64) string {
	if math.Abs(v) >= 1000 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}

// flat is a dashed target line of n points at v.
func flat(name string, v float64, n int, rgb [3]int) series {
	vals := make([]float64, n)
	for i := range vals {
		vals[i] = v
	}
	return series{name: name, values: vals, rgb: rgb, dashed: true}
}

// drillTrend is a drill history split for a chart: only a drill that
// passed has a figure to plot (a failed or interrupted drill's RTO is the
// time until it stopped, not an RTO), so passed holds the figures of
// passed drills (NaN for the others) and failed holds a mark at zero for
// each other drill (NaN for the passed ones).
type drillTrend struct {
	passed, failed []float64
	// nFailed counts the drills that did not pass.
	nFailed int
}

func splitTrend(points []DrillPoint, value func(DrillPoint) float64) drillTrend {
	t := drillTrend{passed: make([]float64, len(points)), failed: make([]float64, len(points))}
	for i, p := range points {
		t.passed[i], t.failed[i] = math.NaN(), math.NaN()
		if p.Result == ResultPassed {
			t.passed[i] = value(p)
			continue
		}
		t.failed[i] = 0
		t.nFailed++
	}
	return t
}

// failedSeries marks the drills that did not pass.
func (t drillTrend) failedSeries() series {
	return series{name: "不合格・中断 failed or interrupted", values: t.failed, rgb: [3]int{200, 0, 0}, cross: true}
}

// caption says how many drills are marked instead of plotted.
func (r *report) trendCaption(t drillTrend) {
	if t.nFailed == 0 {
		return
	}
	r.para(fmt.Sprintf("不合格・中断の訓練 %d 件は RTO・RPO の値を持たないため線に含めず、× 印で示しています。", t.nFailed),
		fmt.Sprintf("%d failed or interrupted drill(s) are not on the lines (their times are not an RTO or RPO): each is marked ×.", t.nFailed))
}
