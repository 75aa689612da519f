package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/stload/stload/device"
	"github.com/stload/stload/loader"
)

// coldVariant is one way stload reads a cold file.
type coldVariant struct {
	name  string
	what  string
	pread bool // open with loader.WithPread
	opts  []device.Option
}

// coldVariants are the designs the cold benchmark compares, by name.
var coldVariants = map[string]coldVariant{
	"direct": {name: "direct", what: "the defaults: O_DIRECT for uncached ranges"},
	"page-cache": {name: "page-cache", what: "Tuning{NoDirectIO}: copies from the mapping, as before",
		opts: []device.Option{device.WithTuning(device.Tuning{NoDirectIO: true})}},
	"pread": {name: "pread", what: "Tuning{NoDirectIO}, WithPread: buffered pread", pread: true,
		opts: []device.Option{device.WithTuning(device.Tuning{NoDirectIO: true})}},
	"direct-pread": {name: "direct-pread", what: "O_DIRECT, file opened WithPread", pread: true},
}

// parseColdVariant parses NAME or NAME:READERS.
func parseColdVariant(s string) (coldVariant, error) {
	name, rs, hasReaders := strings.Cut(s, ":")
	v, ok := coldVariants[name]
	if !ok {
		return v, fmt.Errorf("unknown variant %q", name)
	}
	if hasReaders {
		n, err := strconv.Atoi(rs)
		if err != nil || n < 1 {
			return v, fmt.Errorf("variant %q: bad reader count", s)
		}
		v.name = s
		v.opts = append(append([]device.Option(nil), v.opts...), device.WithReaders(n))
	}
	return v, nil
}

// coldRun is what the cold benchmark needs to know.
type coldRun struct {
	path     string
	payload  int64
	size     int64
	readers  int
	dev      device.Device
	loaders  []*device.Placer
	maxResid float64
}

func cmdCold(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("cold")
	file := fs.String("file", "", "file to read cold; generated (Llama-shaped) when it does not exist")
	var genSize sizeFlag = 3 << 30
	fs.Var(&genSize, "size", "payload of the generated file")
	rounds := fs.Int("rounds", 5, "timed runs per figure, interleaved; each run starts with the file evicted")
	variants := fs.String("variants", "direct,page-cache", "stload variants: direct, page-cache, pread, direct-pread; NAME:R runs it with R readers")
	readers := fs.Int("readers", 0, "stload readers (default: the device package's)")
	dd := fs.Bool("dd", true, "time `dd bs=16M iflag=direct` of the file, the ceiling")
	depths := fs.String("depths", "1,4", "in-process O_DIRECT sequential read ceilings: requests in flight")
	timeline := fs.String("timeline", "", "after the rounds, load once more (first variant) with a timeline: write FILE.json and FILE.svg")
	jsonOut := fs.String("json", "", "also write the report as JSON to this file")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *file == "" {
		return usageError{errors.New("-file is required")}
	}
	if err := ensureFile(*file, int64(genSize), stderr); err != nil {
		return err
	}
	names := strings.Split(*variants, ",")
	for _, n := range names {
		if _, err := parseColdVariant(n); err != nil {
			return usageError{err}
		}
	}
	dl, err := intList(*depths)
	if err != nil {
		return usageError{err}
	}
	defer registerNoCopy("host", nil)()
	run, err := newColdRun(*file, *readers)
	if err != nil {
		return err
	}
	defer run.close()
	cs, err := run.contenders(names, dl, *dd)
	if err != nil {
		return err
	}
	if err := interleave(*rounds, cs...); err != nil {
		return err
	}
	rep := run.report(cs, names)
	if *timeline != "" {
		v, _ := parseColdVariant(names[0])
		if err := run.timeline(v, *timeline, rep); err != nil {
			return err
		}
	}
	rep.WriteMarkdown(stdout)
	if *jsonOut != "" {
		return writeReportJSON(*jsonOut, rep)
	}
	return nil
}

// ensureFile generates a Llama-shaped checkpoint at path if none exists.
func ensureFile(path string, size int64, log io.Writer) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	fmt.Fprintf(log, "generating %s (%s)\n", path, fmtBytes(size))
	_, err := Generate(GenRequest{Kind: "llama", Size: size, Out: path, Seed: 1})
	return err
}

func newColdRun(path string, readers int) (*coldRun, error) {
	f, err := loader.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return &coldRun{path: path, payload: f.Size() - (8 + f.HeaderSize()), size: f.Size(), readers: readers,
		dev: device.Device{Backend: "host"}}, nil
}

func (r *coldRun) close() {
	for _, l := range r.loaders {
		l.Close()
	}
}

// evict is every contender's setup: the file leaves the page cache, and
// a run that would start with more than 1% of it cached fails.
func (r *coldRun) evict() error {
	res, err := Evict(r.path)
	if err != nil {
		return err
	}
	r.maxResid = max(r.maxResid, res)
	if res > 0.01 {
		return fmt.Errorf("%s: %.1f%% of the file stayed in the page cache after eviction", r.path, 100*res)
	}
	return nil
}

// contenders lists the ceilings, then the stload variants.
func (r *coldRun) contenders(names []string, depths []int, dd bool) ([]*contender, error) {
	var cs []*contender
	if dd {
		if _, err := exec.LookPath("dd"); err == nil {
			cs = append(cs, r.ddCeiling())
		}
	}
	for _, d := range depths {
		c, err := r.directCeiling(d)
		if err != nil {
			return nil, err
		}
		cs = append(cs, c)
	}
	for _, n := range names {
		v, _ := parseColdVariant(n)
		cs = append(cs, r.stload(v))
	}
	return cs, nil
}

// ddCeiling times `dd if=FILE of=/dev/null bs=16M iflag=direct` as a
// process: the storage's sequential O_DIRECT rate, one request at a time.
func (r *coldRun) ddCeiling() *contender {
	fig := &Figure{Group: "cold", Impl: "ceiling", Threads: 1, Bytes: r.size,
		Name: "dd bs=16M iflag=direct"}
	return &contender{fig: fig, setup: r.evict, run: func() error {
		out, err := exec.Command("dd", "if="+r.path, "of=/dev/null", "bs=16M", "iflag=direct").CombinedOutput()
		if err != nil {
			return fmt.Errorf("dd: %v: %s", err, out)
		}
		return nil
	}}
}

// directCeiling reads the whole file with O_DIRECT into reused aligned
// buffers, depth requests in flight (16 MiB each alone, 8 MiB each with
// more), in process.
func (r *coldRun) directCeiling(depth int) (*contender, error) {
	bs := 8 << 20
	if depth == 1 {
		bs = 16 << 20
	}
	bufs := alignedBuffers(depth, bs)
	n := int((r.size + int64(bs) - 1) / int64(bs))
	fig := &Figure{Group: "cold", Impl: "ceiling", Threads: depth, Bytes: r.size,
		Name: fmt.Sprintf("O_DIRECT pread %s × %d in flight (in process)", fmtBytes(int64(bs)), depth)}
	return &contender{fig: fig, setup: r.evict, run: func() error {
		f, err := directFile(r.path)
		if err != nil {
			return err
		}
		defer f.Close()
		return parallel(depth, n, func(w, i int) error {
			off := int64(i) * int64(bs)
			_, err := f.ReadAt(bufs[w][:min(int64(bs), r.size-off+4095)&^4095], off)
			if err == io.EOF {
				err = nil
			}
			return err
		})
	}}, nil
}

// stload times open + load of the file into the host stand-in device,
// whose copies are no-ops: the read side of the staging pipeline, into
// pinned-like buffers reused across runs by one Placer.
func (r *coldRun) stload(v coldVariant) *contender {
	opts := append([]device.Option{device.On(r.dev)}, v.opts...)
	if r.readers > 0 {
		opts = append(opts, device.WithReaders(r.readers))
	}
	l := device.NewPlacer(opts...)
	r.loaders = append(r.loaders, l)
	fig := &Figure{Group: "cold", Impl: "stload", Bytes: r.payload,
		Name: fmt.Sprintf("stload %s: %s", v.name, v.what)}
	return &contender{fig: fig, setup: r.evict, run: func() error {
		var tl *device.Timeline
		if fig.Threads == 0 { // the untimed first run tells the reader count
			tl = new(device.Timeline)
		}
		st, err := r.loadOnce(l, v, tl)
		if err == nil && tl != nil {
			fig.Threads = tl.Readers
		}
		if err == nil {
			fig.Note = fmt.Sprintf("O_DIRECT %.0f%% of bytes; %d chunks", 100*float64(st.direct)/float64(r.payload), st.chunks)
		}
		return err
	}}
}

type coldStats struct{ direct, chunks int64 }

// loadOnce opens the file and loads it with l, into tl if not nil, then
// frees it.
func (r *coldRun) loadOnce(l *device.Placer, v coldVariant, tl *device.Timeline) (coldStats, error) {
	var fopts []loader.Option
	if v.pread {
		fopts = append(fopts, loader.WithPread())
	}
	f, err := loader.Open(r.path, fopts...)
	if err != nil {
		return coldStats{}, err
	}
	defer f.Close()
	var opts []device.Option
	if tl != nil {
		opts = append(opts, device.WithTimeline(tl))
	}
	set, err := l.Load(context.Background(), device.Files(f), opts...)
	if err != nil {
		return coldStats{}, err
	}
	st := set.Stats()
	return coldStats{direct: st.Direct, chunks: st.Chunks}, set.Close()
}

// report gathers the figures and the ratios against the ceilings.
func (r *coldRun) report(cs []*contender, names []string) *Report {
	rep := NewReport("stload cold-file reads (page cache dropped before every run)")
	rep.Machine.FileSystem = fsType(filepath.Dir(r.path))
	rep.Params = map[string]string{"file": r.path, "bytes": fmt.Sprint(r.size), "payload": fmt.Sprint(r.payload)}
	var ceiling, best *Figure
	for _, c := range cs {
		rep.Figures = append(rep.Figures, c.fig)
		if c.fig.Impl == "ceiling" {
			if ceiling == nil {
				ceiling = c.fig
			}
			if best == nil || c.fig.GBps > best.GBps {
				best = c.fig
			}
		}
	}
	for _, c := range cs {
		if c.fig.Impl != "stload" || ceiling == nil {
			continue
		}
		goal := 0.0
		if strings.HasPrefix(c.fig.Name, "stload direct:") {
			goal = 0.9
		}
		short := strings.SplitN(c.fig.Name, ":", 2)[0]
		rep.Ratios = append(rep.Ratios, ratio(short+" / "+ceiling.Name, c.fig, ceiling, goal))
		if best != ceiling {
			rep.Ratios = append(rep.Ratios, ratio(short+" / "+best.Name, c.fig, best, 0))
		}
	}
	if len(names) > 1 {
		rep.Ratios = append(rep.Ratios, ratio(names[0]+" / "+names[1], cs[len(cs)-len(names)].fig, cs[len(cs)-len(names)+1].fig, 0))
	}
	rep.Notes = append(rep.Notes, fmt.Sprintf("page cache residency before each run (mincore): at most %.2f%%", 100*r.maxResid),
		"stload: open + header parse + load into the host stand-in device (copies are no-ops, staging buffers reused across runs); its GB/s count tensor bytes, the ceilings' the whole file")
	return rep
}

// timeline loads the evicted file once more with v and a timeline, and
// writes it as path.json and path.svg, adding its verdict to rep.
func (r *coldRun) timeline(v coldVariant, path string, rep *Report) error {
	if err := r.evict(); err != nil {
		return err
	}
	var tl device.Timeline
	opts := append([]device.Option{device.On(r.dev)}, v.opts...)
	if r.readers > 0 {
		opts = append(opts, device.WithReaders(r.readers))
	}
	l := device.NewPlacer(opts...)
	defer l.Close()
	if _, err := r.loadOnce(l, v, &tl); err != nil {
		return err
	}
	if err := writeTimeline(&tl, path); err != nil {
		return err
	}
	rep.Notes = append(rep.Notes, "timeline of one "+v.name+" run ("+strings.TrimSuffix(path, ".json")+".json/.svg): "+tl.Summary().Verdict)
	return nil
}

// writeTimeline writes tl as JSON to path (".json" added if missing) and
// as SVG beside it.
func writeTimeline(tl *device.Timeline, path string) error {
	_, err := tl.WriteFiles(strings.TrimSuffix(path, ".json") + ".json")
	return err
}

// writeReportJSON writes rep as JSON to path.
func writeReportJSON(path string, rep *Report) error {
	return writeFile(path, func(f *os.File) error { return rep.WriteJSON(f) }, false)
}
