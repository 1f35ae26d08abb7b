package report

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"image"
	"image/png"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// probeScript is added to a copy of the page for the browser test only: it
// writes where each element with an id was laid out, how many of its SVG
// rects have an area and the area they cover by fill, to an attribute of
// <html> that --dump-dom prints.
// It changes no layout. The page itself has no script.
const probeScript = `<script>
(function () {
  var out = {height: document.documentElement.scrollHeight, width: document.documentElement.scrollWidth, boxes: {}};
  document.querySelectorAll('[id]').forEach(function (e) {
    var b = e.getBoundingClientRect(), drawn = 0, fills = {};
    e.querySelectorAll('rect').forEach(function (r) {
      var rb = r.getBoundingClientRect(), fill = (r.getAttribute('fill') || '').toLowerCase();
      if (rb.width > 0 && rb.height > 0) drawn++;
      fills[fill] = (fills[fill] || 0) + rb.width * rb.height;
    });
    out.boxes[e.id] = {x: b.left + window.scrollX, y: b.top + window.scrollY, w: b.width, h: b.height,
      tag: e.tagName.toLowerCase(), rects: drawn, fills: fills};
  });
  document.documentElement.setAttribute('data-probe', JSON.stringify(out));
})();
</script>`

// box is where the browser laid out an element, in CSS pixels.
type box struct {
	X, Y, W, H float64
	Tag        string
	Rects      int
	// Fills is the area of the box's rects by fill colour, in px².
	Fills map[string]float64
}

type probe struct {
	Height, Width float64
	Boxes         map[string]box
}

// browserChart is what the test expects of one chart: the fills that must
// show inside its box, and how many rects it draws at least.
type browserChart struct {
	id     string
	tag    string
	colors []string
	rects  int
}

// TestBrowser_ChartsRender opens the page in headless Chromium and checks
// that every chart was drawn: the SVG elements are in the DOM the browser
// built, the rects have an area, and in a screenshot each chart's box shows
// each of its colours over most of the area its rects of that colour cover. Layout and screenshot come from two
// runs of the browser; the page's fixed width makes them lay out alike.
func TestBrowser_ChartsRender(t *testing.T) {
	t.Parallel()
	bin := chromium(t)
	dir := t.TempDir()
	r := gather(t, warehouse(t), Options{Accounts: 4})
	page := render(t, r)
	if strings.Contains(page, "<script") {
		t.Fatal("the page has a script; it must render without one")
	}
	probed := strings.Replace(page, "</body>", probeScript+"\n</body>", 1)
	pagePath := filepath.Join(dir, "report.html")
	if err := os.WriteFile(pagePath, []byte(probed), 0o644); err != nil {
		t.Fatal(err)
	}

	dom := runChromium(t, bin, dir, 1100, 800, "--dump-dom", "file://"+pagePath)
	p := readProbe(t, dom)
	charts := []browserChart{
		{"chart-distribution", "svg", []string{colorGreen, colorYellow, colorRed}, 11}, // 11 bucket segments
		{"chart-history", "svg", []string{colorGreen, colorYellow, colorRed}, 9 + 3},   // 3 runs of 3 bands, the legend
		{"chart-moves", "svg", []string{colorGreen, colorYellow, colorRed}, 8},         // 4 pairs: swatch and bar
		{"accounts", "section", []string{colorComponent}, 2 * (2 + 3 + 3 + 3)},         // track and bar per component with a value
	}
	for _, c := range charts {
		if c.tag == "svg" && !regexp.MustCompile(`<svg class="chart" id="`+c.id+`"[^>]*role="img"`).MatchString(dom) {
			t.Errorf("the browser's DOM has no <svg id=%q role=img>", c.id)
		}
		b, ok := p.Boxes[c.id]
		switch {
		case !ok:
			t.Errorf("%s: not laid out", c.id)
		case b.Tag != c.tag || b.W < 100 || b.H < 50:
			t.Errorf("%s: laid out as <%s> of %gx%g px, want a <%s> of at least 100x50", c.id, b.Tag, b.W, b.H, c.tag)
		case b.Rects < c.rects:
			t.Errorf("%s: %d rects with an area, want at least %d", c.id, b.Rects, c.rects)
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	height := int(math.Ceil(p.Height))
	shot := filepath.Join(dir, "report.png")
	runChromium(t, bin, dir, 1100, height, "--screenshot="+shot, "file://"+pagePath)
	img := readPNG(t, shot)
	if b := img.Bounds(); b.Dx() != 1100 || b.Dy() != height {
		t.Fatalf("screenshot of %dx%d px, want 1100x%d", b.Dx(), b.Dy(), height)
	}
	for _, c := range charts {
		b := p.Boxes[c.id]
		area := image.Rect(int(b.X), int(b.Y), int(math.Ceil(b.X+b.W)), int(math.Ceil(b.Y+b.H)))
		for _, col := range c.colors {
			// Each colour's shapes cover well over 500 px here; at least 80 %
			// of that area must show the colour (rounded corners and
			// antialiased edges take the rest).
			drawn := b.Fills[col]
			if drawn < 500 {
				t.Errorf("%s: its rects of %s cover %g px², want at least 500", c.id, col, drawn)
				continue
			}
			n := countColor(img, area, col)
			if float64(n) < 0.8*drawn {
				t.Errorf("%s: %d pixels of %s in its box %v, want at least 80%% of the %g px² its rects cover: the chart did not render", c.id, n, col, area, drawn)
			} else {
				t.Logf("%s: %d pixels of %s for %g px² of rects", c.id, n, col, drawn)
			}
		}
	}
	if t.Failed() {
		t.Logf("page and screenshot kept in %s", keep(t, dir))
	}
}

// chromium finds the browser. Without one the test fails: the charts are
// only proven to render in a real browser (.ci/run installs Debian's).
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"/usr/bin/chromium", "chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("chromium not found: the browser test needs it (apt-get install chromium)")
	return ""
}

// runChromium runs headless Chromium at a window of w x h CSS pixels (one
// device pixel each), with no network, and returns its standard output.
func runChromium(t *testing.T, bin, dir string, w, h int, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	all := append([]string{
		"--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
		"--disable-extensions", "--force-device-scale-factor=1",
		"--host-resolver-rules=MAP * ~NOTFOUND", // the page must need no network
		"--user-data-dir=" + filepath.Join(dir, "profile"),
		fmt.Sprintf("--window-size=%d,%d", w, h),
	}, args...)
	cmd := exec.CommandContext(ctx, bin, all...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium %s: %v\n%s", strings.Join(args, " "), err, tail(stderr.String(), 2000))
	}
	return string(out)
}

var probeAttr = regexp.MustCompile(`data-probe="([^"]*)"`)

func readProbe(t *testing.T, dom string) probe {
	t.Helper()
	m := probeAttr.FindStringSubmatch(dom)
	if m == nil {
		t.Fatalf("the browser's DOM has no data-probe: the page did not load\n%s", tail(dom, 2000))
	}
	var p probe
	if err := json.Unmarshal([]byte(html.UnescapeString(m[1])), &p); err != nil {
		t.Fatalf("data-probe: %v", err)
	}
	if p.Height <= 0 || p.Height > 16000 {
		t.Fatalf("page height %g px: want between 1 and 16000", p.Height)
	}
	return p
}

func readPNG(t *testing.T, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("the screenshot: %v", err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("decode the screenshot: %v", err)
	}
	return img
}

// countColor counts the pixels of img inside area that are within 3 per
// channel of the colour hex ("#rrggbb").
func countColor(img image.Image, area image.Rectangle, hex string) int {
	want := [3]int{}
	for i := range want {
		v, _ := strconv.ParseUint(hex[1+2*i:3+2*i], 16, 8)
		want[i] = int(v)
	}
	n := 0
	area = area.Intersect(img.Bounds())
	for y := area.Min.Y; y < area.Max.Y; y++ {
		for x := area.Min.X; x < area.Max.X; x++ {
			r, g, b, _ := img.At(x, y).RGBA()
			if near8(int(r>>8), want[0]) && near8(int(g>>8), want[1]) && near8(int(b>>8), want[2]) {
				n++
			}
		}
	}
	return n
}

func near8(a, b int) bool { return a-b <= 3 && b-a <= 3 }

// keep copies the test's page and screenshot out of its temporary
// directory, for a person to look at after a failure.
func keep(t *testing.T, dir string) string {
	out, err := os.MkdirTemp("", "ferry-report-browser-")
	if err != nil {
		return dir + " (removed after the test)"
	}
	for _, name := range []string{"report.html", "report.png"} {
		if b, err := os.ReadFile(filepath.Join(dir, name)); err == nil {
			os.WriteFile(filepath.Join(out, name), b, 0o644)
		}
	}
	return out
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
