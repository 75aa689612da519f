package bench

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"time"
)

// CPUOptions configures [RunCPU]. Zero values take the defaults.
type CPUOptions struct {
	// Dir receives the generated files (default: a temporary directory,
	// removed afterwards). It should be on the file system to measure.
	Dir string
	// ReadSize is the payload of the Llama-shaped file read and saved
	// (default 1 GiB).
	ReadSize int64
	// HeaderTensors is the tensor count of the header-parsing file
	// (default 10,000).
	HeaderTensors int
	// ConvertSize is the bf16 input of the conversion benchmark (default
	// 256 MiB, so that output and input are far larger than any cache).
	ConvertSize int64
	// CopySize is the buffer size of the copy() ceilings (default 512 MiB,
	// far beyond any cache); the generator's fill is timed on half of it.
	CopySize int64
	// Rounds is the number of timed runs of each figure (default 5; the
	// parse group, which is quick, runs three times as many).
	Rounds int
	// Threads is the most goroutines a figure uses (default GOMAXPROCS).
	Threads int
	// Durable adds the saves that fsync (SaveFile against write+fsync),
	// which on a slow disk take seconds each.
	Durable bool
	// Groups limits the run to some of "parse", "read", "save", "convert"
	// (default all).
	Groups []string
	// ProfileDir, when set, receives a CPU profile per group (GROUP.pprof),
	// for `go tool pprof` to say where each contender's time goes.
	ProfileDir string
	// Seed names the random stream of the generated files.
	Seed uint64
	// Log receives progress lines (default: discarded).
	Log io.Writer
}

func (o *CPUOptions) defaults() {
	if o.ReadSize <= 0 {
		o.ReadSize = 1 << 30
	}
	if o.HeaderTensors <= 0 {
		o.HeaderTensors = 10000
	}
	if o.ConvertSize <= 0 {
		o.ConvertSize = 256 << 20
	}
	if o.CopySize <= 0 {
		o.CopySize = 512 << 20
	}
	if o.Rounds <= 0 {
		o.Rounds = 5
	}
	if o.Threads <= 0 {
		o.Threads = runtime.GOMAXPROCS(0)
	}
	if len(o.Groups) == 0 {
		o.Groups = []string{"parse", "read", "save", "convert"}
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
}

// cpuSuite carries one CPU run's state.
type cpuSuite struct {
	o   CPUOptions
	rep *Report
	dir string
	// sink takes a byte of every read whose values nobody uses, so that
	// the compiler cannot discard the reads.
	sink byte
}

func (s *cpuSuite) logf(format string, args ...any) {
	fmt.Fprintf(s.o.Log, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

func (s *cpuSuite) add(figs ...*Figure) {
	s.rep.Figures = append(s.rep.Figures, figs...)
}

// RunCPU runs the CPU benchmark: for each group it generates its file,
// measures the same-run ceilings, stload and nlpodyssey interleaved, and
// returns the figures and ratios against the goals of issue 4.
func RunCPU(o CPUOptions) (*Report, error) {
	o.defaults()
	s := &cpuSuite{o: o, rep: NewReport("stload CPU benchmark")}
	s.dir = o.Dir
	if s.dir == "" {
		d, err := os.MkdirTemp("", "stload-bench-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		s.dir = d
	} else if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return nil, err
	}
	s.rep.Machine.FileSystem = fsType(s.dir)
	s.rep.Params = map[string]string{
		"dir": s.dir, "read_size": fmtBytes(o.ReadSize), "header_tensors": fmt.Sprint(o.HeaderTensors),
		"convert_size": fmtBytes(o.ConvertSize), "rounds": fmt.Sprint(o.Rounds),
		"threads": fmt.Sprint(o.Threads), "durable": fmt.Sprint(o.Durable),
	}
	if err := s.genFigures(); err != nil {
		return nil, err
	}
	groups := map[string]func() error{"parse": s.parse, "read": s.read, "save": s.save, "convert": s.convert}
	for _, g := range o.Groups {
		fn, ok := groups[g]
		if !ok {
			return nil, fmt.Errorf("bench: unknown group %q (want parse, read, save, convert)", g)
		}
		s.logf("group %s", g)
		if err := s.profiled(g, fn); err != nil {
			return nil, fmt.Errorf("group %s: %w", g, err)
		}
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		s.rep.Notes = append(s.rep.Notes, "load average at the end: "+strings.TrimSpace(string(b)))
	}
	return s.rep, nil
}

// profiled runs fn, under the CPU profiler when ProfileDir is set.
func (s *cpuSuite) profiled(group string, fn func() error) error {
	if s.o.ProfileDir == "" {
		return fn()
	}
	if err := os.MkdirAll(s.o.ProfileDir, 0o755); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(s.o.ProfileDir, group+".pprof"))
	if err != nil {
		return err
	}
	defer f.Close()
	if err := pprof.StartCPUProfile(f); err != nil {
		return err
	}
	defer pprof.StopCPUProfile()
	return fn()
}

// genFigures measures the generator itself: the PRNG fill alone, from one
// and from all goroutines, so that the GPU script's file sizes can be
// planned from it.
func (s *cpuSuite) genFigures() error {
	size := int(s.o.CopySize / 2)
	buf := touchedBuffers(1, size)[0]
	var cs []*contender
	for _, t := range dedupe(1, s.o.Threads) {
		fig := &Figure{Group: "gen", Impl: "stload", Threads: t, Bytes: int64(size),
			Name: fmt.Sprintf("Fill (wyrand) %s, %d goroutine(s)", fmtBytes(int64(size)), t)}
		cs = append(cs, &contender{fig: fig, run: func() error { FillParallel(buf, 3, 0, t); return nil }})
	}
	if err := interleave(s.o.Rounds, cs...); err != nil {
		return err
	}
	for _, c := range cs {
		s.add(c.fig)
	}
	return nil
}

// generate writes a checkpoint for a group and records how long it took
// (one run: the generator is part of the harness, not a contender).
func (s *cpuSuite) generate(r GenRequest) (GenFile, error) {
	r.Seed = s.o.Seed
	r.Workers = s.o.Threads
	s.logf("generating %s %s", r.Kind, r.Out)
	files, err := Generate(r)
	if err != nil {
		return GenFile{}, err
	}
	f := files[0]
	fig := &Figure{Group: "gen", Impl: "stload", Threads: s.o.Threads, Bytes: f.Bytes, Tensors: f.Tensors,
		Name: fmt.Sprintf("generate %s file %s (%d tensors), streaming writer + pwrite, no fsync",
			r.Kind, fmtBytes(f.Bytes), f.Tensors),
		Runs: []float64{f.Seconds}, Note: "one run; fresh page-cache pages"}
	fig.summarize()
	s.add(fig)
	return f, nil
}

// filePath returns the path of a generated file in the suite's directory.
func (s *cpuSuite) filePath(name string) string { return filepath.Join(s.dir, name) }
