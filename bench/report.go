package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"time"
)

// Report is the outcome of one benchmark run: where and how it ran, every
// figure, and the ratios the goals are stated in.
type Report struct {
	// Title heads the markdown.
	Title string `json:"title"`
	// Date is when the run started, in UTC.
	Date string `json:"date"`
	// Command is the command line that produced the figures.
	Command string `json:"command"`
	// Machine holds the facts of the machine that ran it.
	Machine Machine `json:"machine"`
	// Params records the sizes and counts the run used.
	Params map[string]string `json:"params,omitempty"`
	// Figures are the measurements, grouped by Figure.Group.
	Figures []*Figure `json:"figures"`
	// Ratios compare figures, with the goals of issue 4 where they apply.
	Ratios []Ratio `json:"ratios"`
	// Notes carry what the tables cannot: residency, errors, load.
	Notes []string `json:"notes,omitempty"`
}

// NewReport starts a report dated now, with this machine's facts and the
// command line that produced it.
func NewReport(title string) *Report {
	return &Report{Title: title, Date: time.Now().UTC().Format("2006-01-02 15:04 MST"),
		Command: strings.Join(os.Args, " "), Machine: ReadMachine()}
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	return e.Encode(r)
}

// groupTitles says, per group, what its rates count.
var groupTitles = []struct{ group, title string }{
	{"gen", "Synthetic checkpoint generation (harness speed)"},
	{"parse", "Open + parse a 10,000-tensor header (GB/s of header JSON)"},
	{"read", "Read every tensor byte of a page-cached file (GB/s of tensor bytes)"},
	{"save", "Save ~1 GiB (GB/s of file bytes)"},
	{"convert", "BF16→F32 (GB/s of bytes read + written)"},
	{"ceiling", "Ceilings"},
	{"gpu-ceiling", "GPU ceilings (same run)"},
	{"gpu-contention", "Contention ceiling: filling staging buffers and copying at once (times for 1 GiB at the measured rate)"},
	{"cold", "Cold file: page cache dropped before every run (GB/s; ceilings count the whole file, stload the tensor bytes)"},
	{"gpu", "GPU loads (one fresh process per trial)"},
}

// WriteMarkdown writes the report as markdown tables: the machine, one
// table per group, then the ratios with their goals.
func (r *Report) WriteMarkdown(w io.Writer) {
	fmt.Fprintf(w, "## %s\n\n", r.Title)
	fmt.Fprintf(w, "- Date: %s\n- Command: `%s`\n", r.Date, r.Command)
	m := r.Machine
	fmt.Fprintf(w, "- Machine: %s, %d cores (GOMAXPROCS %d), %.1f GiB RAM, kernel %s, %s, %s",
		m.CPU, m.Cores, m.GOMAXPROCS, m.MemoryGiB, m.Kernel, m.OSArch, m.Go)
	if m.FileSystem != "" {
		fmt.Fprintf(w, ", files on %s", m.FileSystem)
	}
	fmt.Fprintln(w)
	if m.LoadAvg != "" {
		fmt.Fprintf(w, "- Load average at start: %s\n", m.LoadAvg)
	}
	for _, g := range m.GPUs {
		fmt.Fprintf(w, "- GPU: %s\n", g)
	}
	if len(r.Params) > 0 {
		var ps []string
		for _, k := range slices.Sorted(maps.Keys(r.Params)) {
			ps = append(ps, k+"="+r.Params[k])
		}
		fmt.Fprintf(w, "- Parameters: %s\n", strings.Join(ps, ", "))
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "- %s\n", n)
	}
	seen := map[string]bool{}
	for _, gt := range groupTitles {
		r.writeGroup(w, gt.group, gt.title)
		seen[gt.group] = true
	}
	for _, f := range r.Figures {
		if !seen[f.Group] {
			r.writeGroup(w, f.Group, f.Group)
			seen[f.Group] = true
		}
	}
	if len(r.Ratios) > 0 {
		fmt.Fprintf(w, "\n### Ratios (speed of the first over the second; median of per-round ratios)\n\n")
		fmt.Fprintln(w, "| ratio | median | min–max | goal | met |")
		fmt.Fprintln(w, "|---|---:|---:|---:|:---:|")
		for _, x := range r.Ratios {
			goal, met := "—", ""
			if x.Goal > 0 {
				goal = fmt.Sprintf("≥ %.2f", x.Goal)
				met = "no"
				if x.Met {
					met = "yes"
				}
			}
			fmt.Fprintf(w, "| %s | %s | %s–%s | %s | %s |\n", x.Name, fmtRatio(x.Value), fmtRatio(x.Min), fmtRatio(x.Max), goal, met)
		}
	}
}

func (r *Report) writeGroup(w io.Writer, group, title string) {
	var figs []*Figure
	for _, f := range r.Figures {
		if f.Group == group {
			figs = append(figs, f)
		}
	}
	perTensor := group == "parse"
	if len(figs) == 0 {
		return
	}
	fmt.Fprintf(w, "\n### %s\n\n", title)
	head := "| operation | impl | thr | runs | median | min | max | GB/s |"
	rule := "|---|---|---:|---:|---:|---:|---:|---:|"
	if perTensor {
		head += " µs/tensor |"
		rule += "---:|"
	}
	fmt.Fprintln(w, head+" note |")
	fmt.Fprintln(w, rule+"---|")
	for _, f := range figs {
		thr := "—"
		if f.Threads > 0 {
			thr = fmt.Sprint(f.Threads)
		}
		fmt.Fprintf(w, "| %s | %s | %s | %d | %s | %s | %s | %s |", f.Name, f.Impl, thr, len(f.Runs),
			fmtSeconds(f.Median), fmtSeconds(f.Min), fmtSeconds(f.Max), fmtGBps(f.GBps))
		if perTensor {
			if f.Tensors > 0 {
				fmt.Fprintf(w, " %.3f |", f.Median*1e6/float64(f.Tensors))
			} else {
				fmt.Fprint(w, " |")
			}
		}
		fmt.Fprintf(w, " %s |\n", f.Note)
	}
}

func fmtSeconds(s float64) string {
	switch {
	case s == 0:
		return "—"
	case s < 1e-3:
		return fmt.Sprintf("%.1f µs", s*1e6)
	case s < 1:
		return fmt.Sprintf("%.2f ms", s*1e3)
	}
	return fmt.Sprintf("%.3f s", s)
}

func fmtGBps(g float64) string {
	switch {
	case g == 0:
		return "—"
	case g < 1:
		return fmt.Sprintf("%.3f", g)
	}
	return fmt.Sprintf("%.2f", g)
}

// fmtRatio shows three decimals below 10, so that a ratio just under its
// goal (0.896 against 0.9) never reads as meeting it.
func fmtRatio(x float64) string {
	if x >= 10 {
		return fmt.Sprintf("%.1f×", x)
	}
	return fmt.Sprintf("%.3f×", x)
}
