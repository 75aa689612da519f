package device

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"strings"
)

// phaseColor is each phase's colour in the chart: waits in red and grey,
// reads in blues, issuing in orange, copies in green.
var phaseColor = map[string]string{
	phaseAlloc:      "#8c564b",
	phasePin:        "#e377c2",
	phaseWaitJob:    "#c7c7c7",
	phaseWaitBuffer: "#d62728",
	phaseRead:       "#1f77b4",
	phaseDirect:     "#17becf",
	phaseIssue:      "#ff7f0e",
	phaseWaitEvent:  "#bcbd22",
	phaseCopy:       "#2ca02c",
}

// Geometry of the chart, in pixels.
const (
	svgWidth  = 1400
	svgLabel  = 150 // the lane names' column
	svgRight  = 20
	svgTop    = 64 // title and legend
	svgLane   = 16
	svgGap    = 4
	svgAxis   = 36
	svgMinPix = 0.25 // narrower spans are not drawn
)

// WriteSVG draws the timeline as a Gantt chart: one lane per goroutine
// and stream (a group of class "lane" each), a rectangle per span
// coloured by phase, a time axis in milliseconds, a legend, and the
// summary's verdict as the title. Spans of one phase closer than a pixel
// are drawn as one rectangle, so that a long load stays a small file.
func (t *Timeline) WriteSVG(w io.Writer) error {
	bw := bufio.NewWriter(w)
	height := svgTop + len(t.Lanes)*(svgLane+svgGap) + svgAxis
	plot := float64(svgWidth - svgLabel - svgRight)
	el := float64(max(t.Elapsed, 1))
	x := func(ns int64) float64 { return svgLabel + float64(ns)/el*plot }
	fmt.Fprintf(bw, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="11">`+"\n", svgWidth, height)
	fmt.Fprintf(bw, `<rect width="%d" height="%d" fill="white"/>`+"\n", svgWidth, height)
	sum := t.Summary()
	title := fmt.Sprintf("stload load: %.2f GB in %.1f ms (%.2f GB/s), %d readers, %d × %s ring",
		float64(t.Bytes)/1e9, el/1e6, float64(t.Bytes)/el, t.Readers, t.RingChunks, sizeLabel(int64(t.ChunkSize)))
	svgText(bw, 8, 16, "bold", title)
	svgText(bw, 8, 32, "", sum.Verdict)
	lx := 8.0
	for _, p := range phases {
		fmt.Fprintf(bw, `<rect x="%.1f" y="42" width="10" height="10" fill="%s"/>`, lx, phaseColor[p])
		svgText(bw, lx+13, 51, "", string(p))
		lx += 20 + 7*float64(len(p))
	}
	for i, l := range t.Lanes {
		y := svgTop + i*(svgLane+svgGap)
		fmt.Fprintf(bw, `<g class="lane" data-kind="%s">`, l.Kind)
		svgText(bw, 4, float64(y+svgLane-4), "", l.Name)
		fmt.Fprintf(bw, `<rect x="%d" y="%d" width="%.0f" height="%d" fill="#f4f4f4"/>`, svgLabel, y, plot, svgLane)
		for _, s := range mergeSpans(l.Spans, el/plot) {
			x0, x1 := x(s.Start), x(s.End)
			if x1-x0 < svgMinPix {
				continue
			}
			fmt.Fprintf(bw, `<rect x="%.2f" y="%d" width="%.2f" height="%d" fill="%s"/>`, x0, y+1, x1-x0, svgLane-2, phaseColor[s.Phase])
		}
		bw.WriteString("</g>\n")
	}
	svgAxisTicks(bw, el, plot, height-svgAxis+4)
	bw.WriteString("</svg>\n")
	return bw.Flush()
}

// mergeSpans joins consecutive spans of one phase less than gap
// nanoseconds apart (a pixel), returning a new slice.
func mergeSpans(spans []Span, gap float64) []Span {
	var out []Span
	for _, s := range spans {
		if n := len(out); n > 0 && out[n-1].Phase == s.Phase && float64(s.Start-out[n-1].End) < gap {
			out[n-1].End = max(out[n-1].End, s.End)
			continue
		}
		out = append(out, s)
	}
	return out
}

// svgAxisTicks draws the time axis at y: a line and ticks at a round
// number of milliseconds, about every 100 pixels.
func svgAxisTicks(w *bufio.Writer, el, plot float64, y int) {
	fmt.Fprintf(w, `<line x1="%d" y1="%d" x2="%.0f" y2="%d" stroke="black"/>`+"\n", svgLabel, y, svgLabel+plot, y)
	ms := el / 1e6
	step := math.Pow(10, math.Floor(math.Log10(ms/10)))
	for _, m := range []float64{1, 2, 5, 10} {
		if ms/(step*m) <= plot/100 {
			step *= m
			break
		}
	}
	for v := 0.0; v <= ms+1e-9; v += step {
		px := svgLabel + v/ms*plot
		fmt.Fprintf(w, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="black"/>`, px, y, px, y+5)
		svgText(w, px-10, float64(y+17), "", trimFloat(v)+" ms")
	}
	w.WriteString("\n")
}

// svgText writes escaped text at (x, y).
func svgText(w *bufio.Writer, x, y float64, weight, s string) {
	fmt.Fprintf(w, `<text x="%.1f" y="%.1f"`, x, y)
	if weight != "" {
		fmt.Fprintf(w, ` font-weight="%s"`, weight)
	}
	w.WriteString(">")
	w.WriteString(escapeText(s))
	w.WriteString("</text>")
}

// trimFloat formats v without trailing zeros: 2.5, 10, 0.02.
func trimFloat(v float64) string {
	s := strings.TrimRight(fmt.Sprintf("%.3f", v), "0")
	return strings.TrimSuffix(s, ".")
}

// sizeLabel formats a buffer size: "8 MiB", "64 KiB", "1000 B".
func sizeLabel(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}

// escapeText escapes s for XML character data: markup characters become
// entities and characters XML 1.0 forbids (tensor names come from files)
// become U+FFFD. Written here so that device does not compile encoding/xml.
func escapeText(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 && r != '\t' && r != '\n' && r != '\r' || r == 0xFFFE || r == 0xFFFF {
			return '\uFFFD'
		}
		return r
	}, s)
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}
