package bench

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
)

// command is one subcommand of [Main].
type command struct {
	run  func(args []string, stdout, stderr io.Writer) error
	help string
}

// commandTable maps subcommand names to their implementations; the GPU
// ones come from gpu_cuda.go or, without the cuda tag, are stubs that say
// so (gpuCommands). It is a function, not a variable, because commands
// print the table in their help: a variable would refer to itself.
func commandTable() map[string]command {
	cs := map[string]command{
		"cpu":      {cmdCPU, "run the CPU benchmark (parse, read, save, convert) and print the tables"},
		"gen":      {cmdGen, "write a synthetic checkpoint (llama, moe, many, sharded)"},
		"warm":     {cmdWarm, "read files into the page cache and report their residency"},
		"ceiling":  {cmdCeiling, "measure copy() and page-cache pread ceilings"},
		"report":   {cmdReport, "turn JSON lines from trials and ceilings into tables"},
		"machine":  {cmdMachine, "print the machine facts as JSON"},
		"cold":     {cmdCold, "read a file that is not in the page cache: stload's staging pipeline (O_DIRECT or the page cache) against dd iflag=direct"},
		"timeline": {cmdTimeline, "summarise a load's timeline (JSON from -timeline) and draw it as an SVG Gantt chart"},
		"evict":    {cmdEvict, "drop files from the page cache (posix_fadvise) and print their residency as JSON lines"},
	}
	maps.Copy(cs, gpuCommands())
	return cs
}

// name is the command's name in help and messages: Main is reached as
// stbench, also when "stload bench" runs it.
const name = "stbench"

// synopses are the arguments of the commands that take more than flags,
// for their usage lines.
var synopses = map[string]string{
	"gen":       "-out PATH [flags]",
	"cold":      "-file FILE [flags]",
	"warm":      "[flags] FILE...",
	"evict":     "FILE...",
	"report":    "[flags] TRIALS.jsonl...",
	"timeline":  "[flags] TIMELINE.json",
	"gpu-trial": "[flags] FILE... (or -index INDEX.json)",
	"machine":   "",
}

// Main runs the benchmark command line: args are the arguments after the
// command's name (the subcommand first). It returns the process exit
// status: 0 on success, 1 on failure, 2 on a usage error. Help ("help",
// "-h", "help COMMAND", "COMMAND -h", "COMMAND --help") goes to stdout;
// a usage error is reported on stderr in three lines: the error, the
// usage line and where to read more.
func Main(args []string, stdout, stderr io.Writer) int {
	help := len(args) > 0 && (args[0] == "help" || isHelpFlag(args[0]))
	switch {
	case len(args) == 0:
		usage(stderr)
		return 2
	case help && len(args) == 1:
		usage(stdout)
		return 0
	case help && len(args) == 2:
		args = []string{args[1], "-h"}
	case help:
		fmt.Fprintf(stderr, "%s %s: too many arguments\nusage: %s help [COMMAND]\nsee: %s help\n", name, args[0], name, name)
		return 2
	}
	sub := args[0]
	c, ok := commandTable()[sub]
	if !ok {
		fmt.Fprintf(stderr, "%s: unknown command %q\nusage: %s COMMAND [flags]\nsee: %s help\n", name, sub, name, name)
		return 2
	}
	err := c.run(args[1:], stdout, stderr)
	var h helpRequest
	var u usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &h):
		commandHelp(stdout, sub, c.help, h)
		return 0
	case errors.As(err, &u):
		fmt.Fprintf(stderr, "%s %s: %v\n%s\nsee: %s %s -h\n", name, sub, u.error, usageLine(sub), name, sub)
		return 2
	}
	fmt.Fprintf(stderr, "%s %s: %v\n", name, sub, err)
	return 1
}

// usageError marks bad command lines (exit status 2).
type usageError struct{ error }

// helpRequest is what a command returns for -h: Main prints its help from
// the flags, with the note if any.
type helpRequest struct {
	fs   *flag.FlagSet
	note string
}

func (helpRequest) Error() string { return "help requested" }

// isHelpFlag reports whether arg asks for help as a flag does.
func isHelpFlag(arg string) bool {
	return arg == "-h" || arg == "-help" || arg == "--help"
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "usage: %s COMMAND [flags]\n\ncommands:\n", name)
	cs := commandTable()
	for _, sub := range slices.Sorted(maps.Keys(cs)) {
		fmt.Fprintf(w, "  %-12s %s\n", sub, cs[sub].help)
	}
	fmt.Fprintf(w, "\nRun '%s COMMAND -h' for its flags.\n", name)
}

// usageLine is the one-line usage of command sub.
func usageLine(sub string) string {
	args, ok := synopses[sub]
	if !ok {
		args = "[flags]"
	}
	return strings.TrimSpace(fmt.Sprintf("usage: %s %s %s", name, sub, args))
}

// commandHelp prints the help of command sub: its usage line, what it
// does (help, the command's line in the command table), the note, and its
// flags.
func commandHelp(w io.Writer, sub, help string, h helpRequest) {
	fmt.Fprintf(w, "%s\n\n%s.\n", usageLine(sub), help)
	if h.note != "" {
		fmt.Fprintf(w, "\n%s\n", h.note)
	}
	n := 0
	h.fs.VisitAll(func(*flag.Flag) { n++ })
	if n > 0 {
		fmt.Fprintln(w, "\nflags:")
		h.fs.SetOutput(w)
		h.fs.PrintDefaults()
	}
}

// newFlags returns the flag set of command sub, which neither exits nor
// prints: [parseFlags] returns what went wrong for Main to print.
func newFlags(sub string) *flag.FlagSet {
	fs := flag.NewFlagSet(name+" "+sub, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

// parseFlags parses args into fs: -h, -help or --help make a
// [helpRequest], a bad flag a [usageError].
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return helpRequest{fs: fs}
		}
		return usageError{err}
	}
	return nil
}

// sizeFlag is a byte count written for ParseSize: 1073741824, 1GiB, 32GB.
type sizeFlag int64

func (s *sizeFlag) String() string { return strconv.FormatInt(int64(*s), 10) }

func (s *sizeFlag) Set(v string) error {
	n, err := ParseSize(v)
	if err == nil {
		*s = sizeFlag(n)
	}
	return err
}

// sizeUnits are the suffixes ParseSize accepts, longest first so that
// "GiB" is not read as "B". Decimal units are powers of 1000, as
// transformers' max_shard_size ("5GB") reads them; binary ones powers of
// 1024.
var sizeUnits = []struct {
	suffix string
	size   int64
}{
	{"KIB", 1 << 10}, {"MIB", 1 << 20}, {"GIB", 1 << 30}, {"TIB", 1 << 40},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
	{"K", 1e3}, {"M", 1e6}, {"G", 1e9}, {"T", 1e12},
	{"B", 1},
}

// ParseSize parses a byte count as people write it: "5GB" (decimal,
// 5,000,000,000), "512MiB" (binary), "1.5GB", "100kB", "4k", or a plain
// number of bytes. Units are case-insensitive and may be separated from
// the number by a space. The count may be 0 (the benchmark's flags use it
// for "skip"), but not negative, nor a fraction of a byte. The stload CLI
// parses its size flags here too.
func ParseSize(s string) (int64, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	mult := int64(1)
	for _, u := range sizeUnits {
		if rest, ok := strings.CutSuffix(t, u.suffix); ok {
			t, mult = strings.TrimSpace(rest), u.size
			break
		}
	}
	if t == "" {
		return 0, fmt.Errorf("size %q: no number", s)
	}
	if n, err := strconv.ParseInt(t, 10, 64); err == nil {
		if n < 0 {
			return 0, fmt.Errorf("size %q: negative", s)
		}
		if n > math.MaxInt64/mult {
			return 0, fmt.Errorf("size %q: too large", s)
		}
		return n * mult, nil
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("size %q: want a number of bytes with an optional unit (5GB, 512MiB)", s)
	}
	v := f * float64(mult)
	switch {
	case v < 0:
		return 0, fmt.Errorf("size %q: negative", s)
	case v > 0 && v < 1:
		return 0, fmt.Errorf("size %q: less than one byte", s)
	case v >= math.MaxInt64:
		return 0, fmt.Errorf("size %q: too large", s)
	}
	return int64(v), nil
}

// intList parses "1,2,4".
func intList(v string) ([]int, error) {
	return parseList(v, func(p string) (int, error) {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 {
			return 0, fmt.Errorf("invalid count %q", p)
		}
		return n, nil
	})
}

// parseList parses the comma-separated items of v with parse, passing over
// empty ones.
func parseList[T any](v string, parse func(string) (T, error)) ([]T, error) {
	var out []T
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		x, err := parse(p)
		if err != nil {
			return nil, err
		}
		out = append(out, x)
	}
	return out, nil
}

// jsonLine writes v as one line of JSON.
func jsonLine(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// createOut opens path for writing; "-" is stdout.
func createOut(path string, stdout io.Writer) (io.Writer, func() error, error) {
	if path == "-" {
		return stdout, func() error { return nil }, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, nil, err
	}
	return f, f.Close, nil
}

// writeReport writes rep as JSON to jsonPath and as markdown to mdPath,
// each unless empty; "-" is stdout.
func writeReport(rep *Report, jsonPath, mdPath string, stdout io.Writer) error {
	if jsonPath != "" {
		w, done, err := createOut(jsonPath, stdout)
		if err != nil {
			return err
		}
		if err := rep.WriteJSON(w); err != nil {
			return err
		}
		if err := done(); err != nil {
			return err
		}
	}
	if mdPath != "" {
		w, done, err := createOut(mdPath, stdout)
		if err != nil {
			return err
		}
		rep.WriteMarkdown(w)
		return done()
	}
	return nil
}

func cmdCPU(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("cpu")
	var o CPUOptions
	var readSize, convSize sizeFlag = 1 << 30, 256 << 20
	fs.StringVar(&o.Dir, "dir", "", "directory for the generated files (default: a temporary one, removed after)")
	fs.Var(&readSize, "size", "payload of the Llama-shaped file read and saved")
	fs.Var(&convSize, "convert-size", "bf16 bytes converted to f32")
	var copySize sizeFlag = 512 << 20
	fs.Var(&copySize, "copy-size", "buffer size of the copy() ceilings")
	fs.IntVar(&o.HeaderTensors, "tensors", 10000, "tensors in the header-parsing file")
	fs.IntVar(&o.Rounds, "rounds", 5, "timed runs per figure (parse: 3×)")
	fs.IntVar(&o.Threads, "threads", runtime.GOMAXPROCS(0), "most goroutines per figure")
	fs.BoolVar(&o.Durable, "durable", true, "also time saves that fsync (SaveFile against write+fsync)")
	groups := fs.String("groups", "parse,read,save,convert", "groups to run")
	seed := fs.Uint64("seed", 1, "random stream of the generated files")
	jsonOut := fs.String("json", "", "also write the report as JSON to this file ('-': stdout, instead of markdown)")
	mdOut := fs.String("md", "-", "write the markdown tables to this file ('-': stdout)")
	quiet := fs.Bool("q", false, "no progress lines on stderr")
	fs.StringVar(&o.ProfileDir, "profile", "", "write a CPU profile per group (GROUP.pprof) into this directory")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	o.ReadSize, o.ConvertSize, o.CopySize, o.Seed = int64(readSize), int64(convSize), int64(copySize), *seed
	o.Groups = strings.Split(*groups, ",")
	if !*quiet {
		o.Log = stderr
	}
	rep, err := RunCPU(o)
	if err != nil {
		return err
	}
	md := *mdOut
	if *jsonOut == "-" && md == "-" {
		md = "" // the JSON takes stdout instead of the markdown
	}
	return writeReport(rep, *jsonOut, md, stdout)
}

// genLine is the JSON line gen prints per file.
type genLine struct {
	Kind string `json:"kind"` // "gen"
	Type string `json:"type"` // llama, moe, many, sharded
	GenFile
	GBps float64 `json:"gbps"`
}

func cmdGen(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("gen")
	var r GenRequest
	var size sizeFlag = 1 << 30
	fs.StringVar(&r.Kind, "kind", KindLlama, "llama, moe, many or sharded")
	fs.Var(&size, "size", "approximate tensor payload (llama, moe, sharded)")
	fs.StringVar(&r.Out, "out", "", "file to write (sharded: directory)")
	fs.IntVar(&r.Shards, "shards", 4, "shards of the sharded kind")
	fs.IntVar(&r.Layers, "layers", 48, "moe: layers")
	fs.IntVar(&r.Experts, "experts", 128, "moe: experts per layer")
	fs.IntVar(&r.Tensors, "tensors", 10000, "many: tensor count")
	fs.Uint64Var(&r.Seed, "seed", 1, "random stream")
	fs.IntVar(&r.Workers, "workers", 0, "fill and write goroutines (default: all CPUs)")
	fs.BoolVar(&r.Durable, "durable", false, "write through loader.CreateFile (fsync + rename)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if r.Out == "" {
		return usageError{errors.New("-out is required")}
	}
	r.Size = int64(size)
	files, err := Generate(r)
	for _, f := range files {
		l := genLine{Kind: "gen", Type: r.Kind, GenFile: f}
		if f.Seconds > 0 {
			l.GBps = float64(f.Bytes) / f.Seconds / 1e9
		}
		if err := jsonLine(stdout, l); err != nil {
			return err
		}
	}
	return err
}

func cmdWarm(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("warm")
	threads := fs.Int("threads", runtime.GOMAXPROCS(0), "reading goroutines")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	for _, p := range fs.Args() {
		w, err := Warm(p, *threads)
		if err != nil {
			return err
		}
		if err := jsonLine(stdout, struct {
			Kind string `json:"kind"`
			WarmResult
		}{"warm", w}); err != nil {
			return err
		}
	}
	return nil
}

// figureLine is the JSON line of one figure, as ceiling and the GPU
// commands print them and report reads them.
type figureLine struct {
	Kind string `json:"kind"` // "figure"
	*Figure
}

func cmdCeiling(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("ceiling")
	file := fs.String("file", "", "page-cached file for the pread ceiling (none: copy() only)")
	threadsFlag := fs.String("threads", "", "goroutine counts of the pread ceiling (default 1,2,4… up to all CPUs)")
	rounds := fs.Int("rounds", 5, "timed runs per figure")
	var copySize sizeFlag = 512 << 20
	fs.Var(&copySize, "copy-size", "bytes per copy() run")
	md := fs.Bool("md", false, "markdown instead of JSON lines")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	threads := threadCounts(runtime.GOMAXPROCS(0))
	if *threadsFlag != "" {
		var err error
		if threads, err = intList(*threadsFlag); err != nil {
			return usageError{err}
		}
	}
	cs := []*contender{}
	for _, t := range dedupe(1, runtime.GOMAXPROCS(0)) {
		cs = append(cs, memcpyCeiling("ceiling", int(copySize), t))
	}
	if *file != "" {
		f, fi, err := openStat(*file)
		if err != nil {
			return err
		}
		defer f.Close()
		for _, t := range threads {
			cs = append(cs, preadCeiling("ceiling", f, fi.Size(), t))
		}
	}
	if err := interleave(*rounds, cs...); err != nil {
		return err
	}
	if *md {
		// Only the markdown shows the machine facts a report gathers.
		rep := NewReport("stload ceilings")
		for _, c := range cs {
			rep.Figures = append(rep.Figures, c.fig)
		}
		rep.WriteMarkdown(stdout)
		return nil
	}
	for _, c := range cs {
		if err := jsonLine(stdout, figureLine{"figure", c.fig}); err != nil {
			return err
		}
	}
	return nil
}

func cmdMachine(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("machine")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	return jsonLine(stdout, ReadMachine())
}
