// Command chart draws the results of cmd/compare as an SVG bar chart: one
// panel per scenario with one horizontal bar per server, showing the
// scenario's main number (a cost: lower is better), the median over the
// repetitions, with the range of the repetitions as a thin line and the
// ratio to the first server in the label.
//
// Usage (from the benchmarks directory):
//
//	chart [-in results/latest.json] [-out results/latest.svg]
//
// The SVG is written by hand with the standard library only.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"strings"
)

// result mirrors the parts of compare's JSON that the chart needs.
type result struct {
	Date    string `json:"date"`
	Commit  string `json:"commit"`
	Reps    int    `json:"reps"`
	Machine struct {
		CPUModel  string `json:"cpu_model"`
		Cores     int    `json:"cores"`
		Kernel    string `json:"kernel"`
		GoVersion string `json:"go_version"`
		Pinning   string `json:"pinning"`
	} `json:"machine"`
	Servers []struct {
		Name string `json:"name"`
	} `json:"servers"`
	Scenarios []struct {
		Name        string `json:"name"`
		Description string `json:"description"`
		Metric      string `json:"metric"`
		MetricLabel string `json:"metric_label"`
		Unit        string `json:"unit"`
	} `json:"scenarios"`
	Summary []struct {
		Server   string             `json:"server"`
		Scenario string             `json:"scenario"`
		OKRuns   int                `json:"ok_runs"`
		Median   map[string]float64 `json:"median"`
		Min      map[string]float64 `json:"min"`
		Max      map[string]float64 `json:"max"`
	} `json:"summary"`
}

// bar is one server's value in a panel.
type bar struct {
	name          string
	ok            bool
	val, min, max float64
}

// Layout, in SVG user units.
const (
	width      = 1000
	margin     = 20
	columns    = 2
	panelGap   = 24
	panelW     = (width - 2*margin - (columns-1)*panelGap) / columns
	labelW     = 104 // server names
	valueW     = 128 // value labels right of the longest bar
	barH       = 18
	barGap     = 8
	panelTop   = 58 // title and two description lines above the bars
	panelBelow = 14
	headerH    = 80
	footerH    = 48
)

// palette colours the servers in order; the first server (the library
// under test) gets the strongest colour.
var palette = []string{"#1b6ac9", "#7a8a99", "#9aa7b4", "#b38867", "#7d9c74", "#a47fb0", "#c9a227", "#5aa7a0"}

func main() {
	in := flag.String("in", "results/latest.json", "results JSON written by compare")
	out := flag.String("out", "results/latest.svg", "SVG file to write")
	flag.Parse()
	b, err := os.ReadFile(*in)
	if err != nil {
		fail(err)
	}
	var r result
	if err := json.Unmarshal(b, &r); err != nil {
		fail(fmt.Errorf("%s: %w", *in, err))
	}
	if len(r.Servers) == 0 || len(r.Scenarios) == 0 {
		fail(fmt.Errorf("%s: no servers or scenarios", *in))
	}
	svg := render(&r)
	if err := os.WriteFile(*out, []byte(svg), 0o644); err != nil {
		fail(err)
	}
	fmt.Println("wrote", *out)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "chart:", err)
	os.Exit(1)
}

// bars collects one panel's values in server order.
func (r *result) bars(scen, metric string) []bar {
	var out []bar
	for _, sv := range r.Servers {
		b := bar{name: sv.Name}
		for _, s := range r.Summary {
			if s.Server != sv.Name || s.Scenario != scen || s.OKRuns == 0 {
				continue
			}
			if v, ok := s.Median[metric]; ok {
				b = bar{name: sv.Name, ok: true, val: v, min: s.Min[metric], max: s.Max[metric]}
			}
		}
		out = append(out, b)
	}
	return out
}

// render returns the whole SVG document.
func render(r *result) string {
	n := len(r.Servers)
	panelH := panelTop + n*barH + (n-1)*barGap + panelBelow
	rows := (len(r.Scenarios) + columns - 1) / columns
	height := headerH + rows*panelH + (rows-1)*panelGap + footerH

	var s strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&s, format, a...) }
	p(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">`+"\n", width, height, width, height)
	p(`<rect width="100%%" height="100%%" fill="#ffffff"/>` + "\n")
	p(`<text x="%d" y="30" font-size="20" font-weight="bold" fill="#222">WebSocket echo servers: server CPU and memory cost</text>`+"\n", margin)
	p(`<text x="%d" y="50" font-size="12.5" fill="#555">Median of %d repetition(s); thin line: range of the repetitions; (×n): ratio to %s. Lower is better in every panel.</text>`+"\n",
		margin, r.Reps, esc(r.Servers[0].Name))
	if r.Servers[0].Name == "wsproject" {
		p(`<text x="%d" y="%d" font-size="12.5" fill="#555">wsproject is this library (github.com/wsproject/websocket); the other bars are its peers.</text>`+"\n", margin, 66)
	}

	for i, sc := range r.Scenarios {
		x := margin + (i%columns)*(panelW+panelGap)
		y := headerH + (i/columns)*(panelH+panelGap)
		panel(&s, x, y, panelH, sc.Name, sc.MetricLabel, sc.Unit, sc.Description, r.bars(sc.Name, sc.Metric))
	}

	m := r.Machine
	fy := height - footerH + 22
	p(`<text x="%d" y="%d" font-size="11.5" fill="#555">%s</text>`+"\n", margin, fy,
		esc(fmt.Sprintf("%s · %s, %d cores, Linux %s, %s · %s", strings.Replace(r.Date, "T", " ", 1), m.CPUModel, m.Cores, m.Kernel, m.GoVersion, m.Pinning)))
	note := "Compare the ratios within one run, not absolute numbers or numbers from different runs."
	if r.Commit != "" {
		note = "Library at commit " + r.Commit + ". " + note
	}
	p(`<text x="%d" y="%d" font-size="11.5" fill="#555">%s</text>`+"\n", margin, fy+16, esc(note))
	p("</svg>\n")
	return s.String()
}

// panel draws one scenario.
func panel(s *strings.Builder, x, y, h int, name, label, unit, desc string, bars []bar) {
	p := func(format string, a ...any) { fmt.Fprintf(s, format, a...) }
	p(`<g transform="translate(%d,%d)">`+"\n", x, y)
	p(`<rect x="0" y="0" width="%d" height="%d" rx="6" fill="#f6f8fa" stroke="#d8dee4"/>`+"\n", panelW, h)
	p(`<text x="10" y="19" font-size="14" font-weight="bold" fill="#222">%s <tspan font-weight="normal" fill="#333">— %s (%s)</tspan></text>`+"\n",
		esc(name), esc(label), esc(unit))
	p(`<text x="%d" y="19" font-size="11" fill="#666" text-anchor="end">lower is better</text>`+"\n", panelW-10)
	for j, line := range wrap(desc, 86, 2) {
		p(`<text x="10" y="%d" font-size="10.5" fill="#666">%s</text>`+"\n", 35+13*j, esc(line))
	}

	top := 0.0
	for _, b := range bars {
		if b.ok {
			top = math.Max(top, math.Max(b.val, b.max))
		}
	}
	plotW := float64(panelW - labelW - valueW - 10)
	scale := 0.0
	if top > 0 {
		scale = plotW / top
	}
	base := 0.0
	if bars[0].ok {
		base = bars[0].val
	}
	for i, b := range bars {
		by := panelTop + i*(barH+barGap)
		p(`<text x="%d" y="%d" font-size="12" fill="#222" text-anchor="end">%s</text>`+"\n", labelW, by+barH-5, esc(b.name))
		bx := labelW + 6
		if !b.ok {
			p(`<text x="%d" y="%d" font-size="12" fill="#b00020">failed / no data</text>`+"\n", bx+2, by+barH-5)
			continue
		}
		w := math.Max(1, b.val*scale)
		p(`<rect x="%d" y="%d" width="%.1f" height="%d" rx="2" fill="%s"/>`+"\n", bx, by, w, barH, palette[i%len(palette)])
		if b.max > b.min {
			ly := float64(by) + barH/2
			p(`<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#222" stroke-width="1.2"/>`+"\n",
				float64(bx)+b.min*scale, float64(bx)+b.max*scale, ly, ly)
		}
		text := num(b.val) + " " + unit
		if base > 0 && i > 0 {
			text += fmt.Sprintf(" (×%.2f)", b.val/base)
		}
		end := float64(bx) + math.Max(w, b.max*scale)
		p(`<text x="%.1f" y="%d" font-size="12" fill="#222">%s</text>`+"\n", end+6, by+barH-5, esc(text))
	}
	p("</g>\n")
}

// num formats v with about three significant digits.
func num(v float64) string {
	switch a := math.Abs(v); {
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	case a >= 1:
		return fmt.Sprintf("%.2f", v)
	default:
		return fmt.Sprintf("%.3f", v)
	}
}

// wrap breaks s into at most maxLines lines of about n characters at
// spaces; the last line is cut with an ellipsis if text remains.
func wrap(s string, n, maxLines int) []string {
	var lines []string
	var cur []rune
	for _, w := range strings.Fields(s) {
		rw := []rune(w)
		if len(cur) > 0 && len(cur)+1+len(rw) > n {
			lines = append(lines, string(cur))
			cur = nil
		}
		if len(cur) > 0 {
			cur = append(cur, ' ')
		}
		cur = append(cur, rw...)
	}
	if len(cur) > 0 {
		lines = append(lines, string(cur))
	}
	if len(lines) > maxLines {
		last := []rune(lines[maxLines-1])
		if len(last) > n-1 {
			last = last[:n-1]
		}
		lines = append(lines[:maxLines-1], string(last)+"…")
	}
	return lines
}

// esc escapes text for SVG.
func esc(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}
