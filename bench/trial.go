package bench

import (
	"bufio"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
)

// Trial is one timed load in a fresh process: the JSON line that the
// gpu-trial command and the Python baselines in bench/py print, and that
// report aggregates. Times are seconds.
type Trial struct {
	// Kind is always "trial".
	Kind string `json:"kind"`
	// Loader names the loader: stload, safe_open, load_file, torch_ring.
	Loader string `json:"loader"`
	// Label says which file (llama, moe, sharded); the script sets it.
	Label string `json:"label"`
	// File is the file loaded, or the index of a sharded checkpoint.
	File string `json:"file"`
	// Round is the trial's round; round 0 is a warm-up the report drops.
	Round int `json:"round"`
	// Device is the target: cuda:0, or auto for every visible GPU.
	Device string `json:"device"`
	// Bytes is the tensor payload loaded (header excluded), Tensors their
	// number, Devices how many GPUs received them.
	Bytes   int64 `json:"bytes"`
	Tensors int   `json:"tensors"`
	Devices int   `json:"devices,omitempty"`
	// Seconds is the timed window: open, parse, allocate, copy, sync, until
	// every tensor handle exists; the CUDA context exists before it starts.
	Seconds float64 `json:"seconds"`
	// GBps is Bytes / Seconds in 1e9 bytes per second.
	GBps float64 `json:"gbps"`
	// FirstTensorS is the time from the window's start until the first
	// tensor was usable on the device, where the loader can tell.
	FirstTensorS float64 `json:"first_tensor_s,omitempty"`
	// ContextS is CUDA context creation, ImportS Python's imports, and
	// ProcessS exec to exit as the script measured it: reported, not timed.
	ContextS float64 `json:"context_s,omitempty"`
	ImportS  float64 `json:"import_s,omitempty"`
	ProcessS float64 `json:"process_s,omitempty"`
	// PinnedBytes is the page-locked host memory the loader held at its
	// peak; DeviceBytes the device memory it allocated.
	PinnedBytes int64 `json:"pinned_bytes,omitempty"`
	DeviceBytes int64 `json:"device_bytes,omitempty"`
	// Verified reports that every tensor's device bytes were compared with
	// the file's, after the window; nil when not checked.
	Verified *bool `json:"verified,omitempty"`
	// VerifyS is how long verification took.
	VerifyS float64 `json:"verify_s,omitempty"`
	// Error is set when the trial failed; the report lists it.
	Error string `json:"error,omitempty"`
	// Note carries loader-specific detail (versions, close time).
	Note string `json:"note,omitempty"`
	// DirectBytes is the bytes stload read with O_DIRECT (cold ranges).
	DirectBytes int64 `json:"direct_bytes,omitempty"`
	// Verdict is the timeline's verdict, for a trial run with -timeline.
	Verdict string `json:"verdict,omitempty"`
}

// gpuReport builds a report from JSON lines: trials become one figure per
// (file, loader) with the first round dropped when dropFirst and more than
// one run exist; figure lines (ceilings) are kept as they are; gen, warm
// and note lines become notes.
func gpuReport(title string, inputs []io.Reader, dropFirst bool) (*Report, error) {
	lines := &reportLines{rep: NewReport(title), trials: map[trialKey][]Trial{}}
	for _, in := range inputs {
		if err := lines.scan(in); err != nil {
			return nil, err
		}
	}
	rep := lines.rep
	byLabel := map[string]map[string]*Figure{}
	pinnedByLabel := map[string]int64{}
	for _, k := range lines.order {
		f, pinned := trialFigure(k, lines.trials[k], dropFirst)
		if byLabel[k.label] == nil {
			byLabel[k.label] = map[string]*Figure{}
		}
		byLabel[k.label][k.loader] = f
		if k.loader == "stload" {
			pinnedByLabel[k.label] = pinned
		}
		rep.Figures = append(rep.Figures, f)
	}
	gpuRatios(rep, byLabel, pinnedByLabel)
	for _, e := range lines.errs {
		rep.Notes = append(rep.Notes, "error: "+e)
	}
	return rep, nil
}

// trialKey names the trials that make one figure: a file's loads by one
// loader.
type trialKey struct{ label, loader string }

// reportLines gathers the JSON lines of gpuReport's inputs: figures and
// notes go straight into rep; trials wait, by key in order of first
// appearance, for their figures; failed trials become errs.
type reportLines struct {
	rep    *Report
	trials map[trialKey][]Trial
	order  []trialKey
	errs   []string
}

// scan reads one input's lines.
func (g *reportLines) scan(in io.Reader) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "{") {
			continue // the scripts' logs interleave with the JSON lines
		}
		if err := g.line([]byte(line)); err != nil {
			return err
		}
	}
	return sc.Err()
}

// line takes one JSON line by its kind; lines of no kind it knows, and
// notes that do not parse, are skipped.
func (g *reportLines) line(b []byte) error {
	var kind struct {
		Kind string `json:"kind"`
	}
	if json.Unmarshal(b, &kind) != nil {
		return nil
	}
	switch kind.Kind {
	case "trial":
		var t Trial
		if err := json.Unmarshal(b, &t); err != nil {
			return err
		}
		g.trial(t)
	case "figure":
		var f Figure
		if err := json.Unmarshal(b, &f); err != nil {
			return err
		}
		g.rep.Figures = append(g.rep.Figures, &f)
	case "gen", "note", "warm":
		if n, ok := noteLine(kind.Kind, b); ok {
			g.rep.Notes = append(g.rep.Notes, n)
		}
	}
	return nil
}

// trial files a trial under its key, or its error.
func (g *reportLines) trial(t Trial) {
	if t.Error != "" {
		g.errs = append(g.errs, fmt.Sprintf("%s %s round %d: %s", t.Label, t.Loader, t.Round, t.Error))
		return
	}
	k := trialKey{cmp.Or(t.Label, t.File), t.Loader}
	if _, ok := g.trials[k]; !ok {
		g.order = append(g.order, k)
	}
	g.trials[k] = append(g.trials[k], t)
}

// noteLine returns the report note of a gen, note or warm line; false
// when it does not parse.
func noteLine(kind string, b []byte) (string, bool) {
	switch kind {
	case "gen":
		var g genLine
		if err := json.Unmarshal(b, &g); err == nil {
			return fmt.Sprintf("generated %s %s: %s, %d tensors, %.1f s (%.2f GB/s)",
				g.Type, g.Path, fmtBytes(g.Bytes), g.Tensors, g.Seconds, g.GBps), true
		}
	case "note":
		var n struct {
			Text string `json:"text"`
		}
		if err := json.Unmarshal(b, &n); err == nil {
			return n.Text, true
		}
	case "warm":
		var w WarmResult
		if err := json.Unmarshal(b, &w); err == nil {
			return fmt.Sprintf("warmed %s: %s in %.1f s, %.2f%% resident",
				w.Path, fmtBytes(w.Bytes), w.Seconds, 100*w.Resident), true
		}
	}
	return "", false
}

// trialFigure summarizes one key's trials, sorted here by round, as a
// figure, and returns it with the most pinned memory a kept trial held.
func trialFigure(k trialKey, all []Trial, dropFirst bool) (*Figure, int64) {
	slices.SortStableFunc(all, func(a, b Trial) int { return a.Round - b.Round })
	ts := all
	if dropFirst && len(ts) > 1 {
		ts = ts[1:]
	}
	f := &Figure{Group: "gpu", Impl: k.loader, Threads: 0, Bytes: ts[0].Bytes, Tensors: ts[0].Tensors,
		Name: fmt.Sprintf("%s: %s → %s", k.label, k.loader, ts[0].Device)}
	var first, proc []float64
	var pinned int64
	for _, t := range ts {
		f.Runs = append(f.Runs, t.Seconds)
		if t.FirstTensorS > 0 {
			first = append(first, t.FirstTensorS)
		}
		if t.ProcessS > 0 {
			proc = append(proc, t.ProcessS)
		}
		pinned = max(pinned, t.PinnedBytes)
	}
	f.summarize()
	var notes []string
	if len(first) > 0 {
		notes = append(notes, "first tensor "+fmtSeconds(median(first)))
	}
	if len(proc) > 0 {
		notes = append(notes, "process wall "+fmtSeconds(median(proc)))
	}
	if pinned > 0 {
		notes = append(notes, "pinned "+fmtBytes(pinned))
	}
	if v := verification(all); v != "" {
		notes = append(notes, v)
	}
	f.Note = strings.Join(notes, "; ")
	return f, pinned
}

// verification says whether the trials verified their tensors: "" when
// none checked. It looks at every trial, the dropped first one included:
// it is usually the one that verified, and the note must still say so.
func verification(ts []Trial) string {
	verified, checked := true, false
	for _, t := range ts {
		if t.Verified != nil {
			checked = true
			verified = verified && *t.Verified
		}
	}
	switch {
	case checked && verified:
		return "verified every tensor"
	case checked:
		return "VERIFICATION FAILED"
	}
	return ""
}

// gpuRatios adds the GPU goals of issue 4: stload ≥ 8× safe_open and ≥ 90%
// of the pinned ceiling on the Llama file, the MoE file within 10% of the
// Llama file's rate, and at most 512 MiB of pinned host memory.
func gpuRatios(rep *Report, figs map[string]map[string]*Figure, pinned map[string]int64) {
	var pin *Figure
	for _, f := range rep.Figures {
		if f.Group == "gpu-ceiling" && strings.HasPrefix(f.Name, "pinned") && (pin == nil || f.GBps > pin.GBps) {
			pin = f
		}
	}
	for _, label := range slices.Sorted(maps.Keys(figs)) {
		st := figs[label]["stload"]
		if st == nil {
			continue
		}
		for _, other := range slices.Sorted(maps.Keys(figs[label])) {
			if other == "stload" {
				continue
			}
			goal := 0.0
			switch {
			case other == "safe_open" && label == "llama":
				goal = 8
			case other == "dd_direct" && label == "cold":
				goal = 0.9 // issue 10: cold at 90% of the disk's direct-read rate
			}
			rep.Ratios = append(rep.Ratios, ratio(fmt.Sprintf("%s: stload / %s", label, other), st, figs[label][other], goal))
		}
		if c := contentionCeiling(rep.Figures); c != nil && label != "cold" {
			goal := 0.0
			if label == "llama" {
				goal = 0.9
			}
			rep.Ratios = append(rep.Ratios, ratio(fmt.Sprintf("%s: stload / contention ceiling", label), st, c, goal))
		}
		if pin != nil && label != "cold" {
			goal := 0.0
			if label == "llama" {
				goal = 0.9
			}
			rep.Ratios = append(rep.Ratios, ratio(fmt.Sprintf("%s: stload / best pinned H2D ceiling", label), st, pin, goal))
		}
		if p := pinned[label]; p > 0 {
			met := "met"
			if p > 512<<20 {
				met = "NOT met"
			}
			rep.Notes = append(rep.Notes, fmt.Sprintf("%s: stload pinned host memory %s (goal ≤ 512 MiB: %s)", label, fmtBytes(p), met))
		}
	}
	if moe, llama := figs["moe"]["stload"], figs["llama"]["stload"]; moe != nil && llama != nil {
		rep.Ratios = append(rep.Ratios, ratio("stload: MoE file GB/s / Llama file GB/s", moe, llama, 0.9))
	}
}

func cmdReport(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("report")
	title := fs.String("title", "stload GPU benchmark", "report title")
	command := fs.String("command", "", "the command to quote as having produced the figures (default: this one)")
	md := fs.String("md", "-", "markdown output ('-': stdout)")
	js := fs.String("json", "", "JSON output")
	dropFirst := fs.Bool("drop-first", true, "drop each loader's first round (warm-up)")
	rerender := fs.String("rerender", "", "print the markdown of a report saved with -json (cpu or report) and exit")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *rerender != "" {
		b, err := os.ReadFile(*rerender)
		if err != nil {
			return err
		}
		var rep Report
		if err := json.Unmarshal(b, &rep); err != nil {
			return fmt.Errorf("%s: %w", *rerender, err)
		}
		rep.WriteMarkdown(stdout)
		return nil
	}
	var ins []io.Reader
	for _, p := range fs.Args() {
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		ins = append(ins, f)
	}
	if len(ins) == 0 {
		ins = append(ins, os.Stdin)
	}
	rep, err := gpuReport(*title, ins, *dropFirst)
	if err != nil {
		return err
	}
	if *command != "" {
		rep.Command = *command
	}
	return writeReport(rep, *js, *md, stdout)
}

// contentionCeiling returns the contention ceiling of gpu-ceiling's
// -contention figures: for each reader count, the lower of the fill and
// copy rates measured side by side (a staging load must both fill and
// copy every byte), and of those the highest; nil without such figures.
func contentionCeiling(figs []*Figure) *Figure {
	fill, copies := map[string]*Figure{}, map[string]*Figure{}
	for _, f := range figs {
		if f.Group != "gpu-contention" {
			continue
		}
		if n, ok := strings.CutPrefix(f.Name, "contention: fill with "); ok {
			fill[strings.Fields(n)[0]] = f
		}
		if n, ok := strings.CutPrefix(f.Name, "contention: pinned H2D while "); ok {
			copies[strings.Fields(n)[0]] = f
		}
	}
	var best *Figure
	for n, f := range fill {
		c := copies[n]
		if c == nil {
			continue
		}
		low := f
		if c.GBps < f.GBps {
			low = c
		}
		if best == nil || low.GBps > best.GBps {
			best = &Figure{Group: "gpu-contention", Impl: "ceiling", Threads: f.Threads, Bytes: low.Bytes,
				Runs: low.Runs, Median: low.Median, Min: low.Min, Max: low.Max, GBps: low.GBps,
				Name: fmt.Sprintf("contention ceiling: min(fill, copy) side by side, %s goroutines", n)}
		}
	}
	return best
}
