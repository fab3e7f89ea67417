package main

import (
	"bytes"
	"fmt"
	"html"
)

// chart draws the throughput ratio of every non-baseline result as a
// horizontal bar, with a line at 1.0 (the baseline).
func chart(rs []Result) []byte {
	var rows []Result
	for _, r := range rs {
		if !r.Baseline && r.Speedup > 0 {
			rows = append(rows, r)
		}
	}
	const (
		left, barW, rowH, top = 330, 420, 22, 40
	)
	maxR := 2.0
	for _, r := range rows {
		if r.Speedup > maxR {
			maxR = r.Speedup
		}
	}
	h := top + rowH*len(rows) + 40
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", left+barW+80, h)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="10" y="20" font-size="14">Throughput relative to the baseline (1.0 = baseline; higher is better)</text>`+"\n")
	x1 := left + int(float64(barW)/maxR)
	for i, r := range rows {
		y := top + i*rowH
		w := int(float64(barW) * r.Speedup / maxR)
		color := "#4a7ebb"
		if r.Speedup < 1 {
			color = "#c0504d"
		}
		label := html.EscapeString(fmt.Sprintf("%s / %s: %s", r.Group, r.Case, r.Impl))
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">%s</text>`+"\n", left-6, y+14, label)
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="%s"/>`+"\n", left, y+3, w, rowH-6, color)
		fmt.Fprintf(&b, `<text x="%d" y="%d">%.2f</text>`+"\n", left+w+4, y+14, r.Speedup)
	}
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black" stroke-dasharray="4,3"/>`+"\n", x1, top-4, x1, top+rowH*len(rows))
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">1.0</text>`+"\n", x1, top+rowH*len(rows)+16)
	b.WriteString("</svg>\n")
	return b.Bytes()
}
