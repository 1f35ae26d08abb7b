package report

import (
	"fmt"
	"math"
	"strconv"
	"time"
)

// Colours of the page. Each band has one colour wherever it is drawn; the
// component bars have their own. The browser test looks for them.
const (
	colorGreen     = "#2f9e44"
	colorYellow    = "#f0b400"
	colorRed       = "#d9383a"
	colorOther     = "#868e96"
	colorComponent = "#3b6cc4"
	colorTrack     = "#e9ecef"
)

// bandColor is the fill of a band.
func bandColor(band string) string {
	switch band {
	case Green:
		return colorGreen
	case Yellow:
		return colorYellow
	case Red:
		return colorRed
	}
	return colorOther
}

// chart is an SVG chart, all geometry computed here so that the template
// only prints numbers and escaped text.
type chart struct {
	ID, Title, Desc string
	Width, Height   int
	Rects           []rect
	Lines           []line
	Texts           []text
}

type rect struct {
	X, Y, W, H float64
	Fill       string
	Title      string // tooltip
}

type line struct {
	X1, Y1, X2, Y2 float64
	Class          string
}

type text struct {
	X, Y   float64
	Anchor string // start, middle or end
	Class  string
	Text   string
}

// plot is the area inside a chart's margins.
type plot struct{ left, top, width, height float64 }

func (p plot) bottom() float64 { return p.top + p.height }

// stack is one band's share of a stacked bar, bottom first.
type stack struct {
	band  string
	count int
}

// stacks lists the bands of b from the bottom of a bar up: red, yellow,
// green, then any other.
func stacks(b BandCounts) []stack {
	return []stack{{Red, b.Red}, {Yellow, b.Yellow}, {Green, b.Green}, {"other", b.Other}}
}

// niceMax rounds n up to a round axis maximum (1, 2, 2.5 or 5 times a
// power of ten) and returns it with a tick step.
func niceMax(n int) (top, step float64) {
	if n <= 0 {
		return 1, 1
	}
	raw := float64(n) / 4
	pow := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		step = m * pow
		if step >= raw {
			break
		}
	}
	if step < 1 {
		step = 1
	}
	return math.Ceil(float64(n)/step) * step, step
}

// yAxis draws the horizontal grid lines and their labels of a count axis.
func (c *chart) yAxis(p plot, top, step float64) {
	for v := 0.0; v <= top+step/2; v += step {
		y := p.bottom() - p.height*v/top
		c.Lines = append(c.Lines, line{p.left, y, p.left + p.width, y, "grid"})
		c.Texts = append(c.Texts, text{p.left - 6, y + 4, "end", "tick", formatCount(v)})
	}
}

// stackedBar draws one bar of band counts at x, of width w, on the scale
// top; title prefixes each segment's tooltip.
func (c *chart) stackedBar(p plot, x, w, top float64, b BandCounts, title string) {
	y := p.bottom()
	for _, s := range stacks(b) {
		if s.count == 0 {
			continue
		}
		h := p.height * float64(s.count) / top
		y -= h
		c.Rects = append(c.Rects, rect{x, y, w, h, bandColor(s.band), fmt.Sprintf("%s: %d %s", title, s.count, s.band)})
	}
}

// legend draws the three bands' swatches from x at y.
func (c *chart) legend(x, y float64) {
	for _, band := range []string{Green, Yellow, Red} {
		c.Rects = append(c.Rects, rect{x, y - 9, 10, 10, bandColor(band), band})
		c.Texts = append(c.Texts, text{x + 14, y, "start", "tick", band})
		x += 70
	}
}

// distributionChart is the histogram of scores in 10-point buckets, each
// bar stacked by band, with the band thresholds marked.
func distributionChart(r *Report) chart {
	c := chart{ID: "chart-distribution", Title: "Health score distribution",
		Desc:  fmt.Sprintf("Accounts per 10-point bucket of health score, coloured by band; %d accounts.", r.Accounts.Total()),
		Width: 960, Height: 310}
	p := plot{left: 56, top: 38, width: 884, height: 220}
	most := 0
	for _, b := range r.Buckets {
		most = max(most, b.Bands.Total())
	}
	top, step := niceMax(most)
	c.yAxis(p, top, step)
	slot := p.width / float64(len(r.Buckets))
	for i, b := range r.Buckets {
		x := p.left + slot*float64(i)
		label := fmt.Sprintf("%d–%d", b.Low, b.Low+9)
		if i == len(r.Buckets)-1 {
			label = fmt.Sprintf("%d–100", b.Low)
		}
		c.stackedBar(p, x+slot*0.1, slot*0.8, top, b.Bands, "score "+label)
		c.Texts = append(c.Texts, text{x + slot/2, p.bottom() + 18, "middle", "tick", label})
		if n := b.Bands.Total(); n > 0 {
			c.Texts = append(c.Texts, text{x + slot/2, p.bottom() - p.height*float64(n)/top - 5, "middle", "value", strconv.Itoa(n)})
		}
	}
	// The yellow threshold is labelled on its left, the green one on its
	// right, so that close thresholds keep their labels apart.
	for _, t := range []struct {
		from   *float64
		band   string
		dx     float64
		anchor string
	}{{r.YellowFrom, Yellow, -4, "end"}, {r.GreenFrom, Green, 4, "start"}} {
		if t.from == nil || *t.from < 0 || *t.from > 100 {
			continue
		}
		x := p.left + p.width**t.from/100
		c.Lines = append(c.Lines, line{x, p.top - 24, x, p.bottom(), "threshold"})
		c.Texts = append(c.Texts, text{x + t.dx, p.top - 16, t.anchor, "tick", fmt.Sprintf("%s from %s", t.band, formatNumber(*t.from))})
	}
	c.Texts = append(c.Texts, text{p.left + p.width/2, p.bottom() + 40, "middle", "axis", "health score"})
	return c
}

// historyChart is a stacked bar of the accounts by band in each of the
// last runs, oldest on the left.
func historyChart(r *Report) chart {
	c := chart{ID: "chart-history", Title: "Health bands over time",
		Desc:  fmt.Sprintf("Accounts per band in each of the last %d runs (of %d), oldest on the left.", len(r.Runs), r.TotalRuns),
		Width: 960, Height: 300}
	p := plot{left: 56, top: 28, width: 884, height: 220}
	most := 0
	for _, run := range r.Runs {
		most = max(most, run.Bands.Total())
	}
	top, step := niceMax(most)
	c.yAxis(p, top, step)
	slot := p.width / float64(max(len(r.Runs), 1))
	w := math.Min(slot*0.8, 48)
	every := (len(r.Runs) + 7) / 8 // at most 8 time labels
	layout := "Jan 2 15:04"
	if len(r.Runs) > 1 && r.Runs[len(r.Runs)-1].At.Sub(r.Runs[0].At) < time.Hour {
		layout = "15:04:05" // runs minutes apart
	}
	for i, run := range r.Runs {
		x := p.left + slot*float64(i) + (slot-w)/2
		c.stackedBar(p, x, w, top, run.Bands, "run "+run.RunID+" at "+run.At.Format(time.DateTime)+" UTC")
		if (len(r.Runs)-1-i)%every == 0 { // the last run always labelled
			c.Texts = append(c.Texts, text{x + w/2, p.bottom() + 18, "middle", "tick", run.At.Format(layout)})
		}
	}
	c.legend(p.left+p.width-200, 14)
	return c
}

// movesChart is a bar per band change between the last two runs, falls
// first: a swatch of the old band, then a bar of the new band's colour as
// long as the number of accounts.
func movesChart(m *Moves) chart {
	const row = 28
	c := chart{ID: "chart-moves", Title: "Band changes since the previous run",
		Desc:  fmt.Sprintf("%d accounts changed band between run %s and run %s, by old and new band.", m.Total, m.Previous.ID, m.Last.ID),
		Width: 960, Height: 24 + row*len(m.Pairs)}
	p := plot{left: 190, top: 12, width: 700, height: float64(row * len(m.Pairs))}
	most := 0
	for _, pair := range m.Pairs {
		most = max(most, pair.Accounts)
	}
	for i, pair := range m.Pairs {
		y := p.top + float64(row*i)
		c.Rects = append(c.Rects, rect{8, y + 6, 12, 12, bandColor(pair.From), "was " + pair.From})
		c.Texts = append(c.Texts, text{26, y + 17, "start", "label", pair.From + " → " + pair.To})
		w := math.Max(p.width*float64(pair.Accounts)/float64(most), 2)
		c.Rects = append(c.Rects, rect{p.left, y + 4, w, row - 8, bandColor(pair.To),
			fmt.Sprintf("%d accounts from %s to %s", pair.Accounts, pair.From, pair.To)})
		c.Texts = append(c.Texts, text{p.left + w + 6, y + 17, "start", "value", strconv.Itoa(pair.Accounts)})
	}
	return c
}

// componentBar is the inline bar of one component's score, 0 to 1.
type componentBar struct {
	Width, Fill float64
	Title       string
}

const componentBarWidth = 140

func newComponentBar(fraction float64) componentBar {
	return componentBar{Width: componentBarWidth, Fill: componentBarWidth * fraction,
		Title: fmt.Sprintf("scores %s of 100", formatNumber(100*fraction))}
}

func formatCount(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// formatNumber prints v with thousands separators from 1,000 on and at
// most two decimals below.
func formatNumber(v float64) string {
	if math.Abs(v) >= 1000 {
		s := strconv.FormatFloat(math.Round(v), 'f', 0, 64)
		neg := s[0] == '-'
		if neg {
			s = s[1:]
		}
		var out []byte
		for i := range len(s) {
			if i > 0 && (len(s)-i)%3 == 0 {
				out = append(out, ',')
			}
			out = append(out, s[i])
		}
		if neg {
			return "-" + string(out)
		}
		return string(out)
	}
	return strconv.FormatFloat(math.Round(v*100)/100, 'f', -1, 64)
}
