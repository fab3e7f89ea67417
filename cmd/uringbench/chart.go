package main

import (
	"bytes"
	"fmt"
	"html"
)

// chart draws, for every non-baseline result, its throughput and its CPU
// per operation relative to the case's baseline, as two panels of
// horizontal bars with a line at 1.0 (the baseline). A result with no
// throughput but figures (the idle group's bytes per connection) has its
// first figure's ratio drawn in the second panel.
func chart(rs []Result) []byte {
	var rows []Result
	for _, r := range rs {
		if r.Baseline {
			continue
		}
		if r.Speedup > 0 {
			rows = append(rows, r)
		} else if len(r.Figures) > 0 && r.Figures[0].Ratio > 0 {
			r.CPURatio = r.Figures[0].Ratio
			r.Impl += ", " + r.Figures[0].Name
			rows = append(rows, r)
		}
	}
	const (
		left, barW, gap, rowH, top = 430, 300, 60, 22, 60
	)
	maxR := 2.0
	for _, r := range rows {
		maxR = max(maxR, r.Speedup, r.CPURatio)
	}
	h := top + rowH*len(rows) + 40
	w := left + 2*barW + gap + 60
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", w, h)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="10" y="20" font-size="14">uringbench: each implementation relative to its case's baseline (dashed line = 1.0)</text>`+"\n")
	panels := []struct {
		title  string
		x      int
		value  func(Result) float64
		better func(float64) bool
	}{
		{"throughput (higher is better)", left, func(r Result) float64 { return r.Speedup }, func(v float64) bool { return v >= 1 }},
		{"CPU per operation, or bytes (lower is better)", left + barW + gap, func(r Result) float64 { return r.CPURatio }, func(v float64) bool { return v <= 1 }},
	}
	for _, p := range panels {
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-weight="bold">%s</text>`+"\n", p.x, top-16, p.title)
		x1 := p.x + int(float64(barW)/maxR)
		for i, r := range rows {
			v := p.value(r)
			if v <= 0 {
				continue
			}
			y := top + i*rowH
			bw := int(float64(barW) * v / maxR)
			color := "#c0504d"
			if p.better(v) {
				color = "#4a7ebb"
			}
			fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="%s"/>`+"\n", p.x, y+3, bw, rowH-6, color)
			fmt.Fprintf(&b, `<text x="%d" y="%d">%.2f</text>`+"\n", p.x+bw+4, y+14, v)
		}
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black" stroke-dasharray="4,3"/>`+"\n", x1, top-4, x1, top+rowH*len(rows))
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">1.0</text>`+"\n", x1, top+rowH*len(rows)+16)
	}
	for i, r := range rows {
		label := fmt.Sprintf("%s / %s: %s", r.Group, r.Case, r.Impl)
		if r.Client != "" {
			label += " (" + r.Client + " client)"
		}
		label = html.EscapeString(label)
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">%s</text>`+"\n", left-6, top+i*rowH+14, label)
	}
	b.WriteString("</svg>\n")
	return b.Bytes()
}
