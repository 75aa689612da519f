package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/stload/stload/device"
	"github.com/stload/stload/dtype"
	"github.com/stload/stload/loader/checkpoint"
)

var loadCmd = &command{
	name:     "load",
	summary:  "place tensors on the CPU or GPUs and report how fast they got there",
	synopsis: "stload load [--device DEVICES] [--map R]... [--shard R]... [flags] INPUT",
	usage: `Usage: stload load [--device DEVICES] [--map PATTERN=DEVICE]... [--shard PATTERN=DIM[@DEVICES]]...
                   [--dtype T] [--verify] [--json] [--copy] [--dry-run]
                   [--chunk-size SIZE] [--chunks N] [--readers N] [--streams N] [--lenient] [--pread] [--register]
                   [--timeline FILE.json] INPUT

Load places every tensor of INPUT on the devices the flags choose, as an
inference engine using stload's device package would, and prints per device
the tensors and bytes placed, the time it took, the rate in GB/s (1e9 bytes
per second), the time until the first tensors were usable, and the pinned
host memory used for staging. The tensors are freed when load exits.

` + inputHelp + `
Devices are written "cpu", "cuda" (cuda:0), "cuda:N", or a bare index "N"
(cuda:N); a list separates names with commas ("cuda:0,cuda:1"). GPUs need a
build with -tags cuda (see README); without it, naming one fails with an
error that says so, and a hint line with the command that installs the GPU
build of stload.

Placement. Each tensor is placed by the first --map or --shard rule, in the
order given on the command line, whose PATTERN matches its whole name;
tensors no rule matches go to --device. PATTERN is a path.Match glob over the
whole tensor name: '*' matches any run of characters, dots included
("model.layers.*.mlp.*"), '?' one character, '[a-z]' a class, '\' escapes
the next character. Quote patterns from the shell.
  --device DEVICES   where unmatched tensors go (default auto). One device
                     takes them all; several share them balanced by free
                     memory, whole layers together: a layer is every
                     tensor sharing the name prefix up to and including the
                     first dot-separated number ("model.layers.12."), and
                     layers are assigned in numeric order to consecutive
                     devices. "auto" is every GPU of a cuda build, or the
                     CPU when there is none (always the CPU without -tags
                     cuda).
  --map PATTERN=DEVICE
                     place the matching tensors whole on DEVICE
                     ("lm_head.weight=cpu", "model.embed_*=cuda:1").
  --shard PATTERN=DIM[@DEVICES]
                     split each matching tensor along dimension DIM
                     (negative counts from the last, as in Python) into one
                     part per device of DEVICES, part k on the k-th device;
                     without @DEVICES, across the --device devices
                     ("*.q_proj.weight=0@cuda:0,cuda:1" splits rows,
                     "*.o_proj.weight=-1" columns). Each device receives
                     only its part, copied straight from the file: a split
                     of the outermost dimension is one contiguous copy, any
                     other one strided 2-D copy per device. Uneven sizes
                     follow torch.tensor_split: with n parts of a dimension
                     of size s, the first s%n parts get one element more
                     (10 over 4 devices: 3, 3, 2, 2), and parts are empty
                     when s < n. A split that would cut an F4 or F6 element
                     group inside a byte is an error, as is a DIM the tensor
                     does not have.

Flags:
  --dtype T          convert every floating tensor (but C64) to T on the
                     host while staging; integer and BOOL tensors load as
                     they are. T is a whole-byte floating type in any
                     spelling dtype.Parse reads: bf16, bfloat16, f16,
                     float16, torch.float16, f32, float32, f64,
                     float8_e4m3fn, float8_e5m2, ...
  --verify           after loading, read every tensor back from its device
                     and compare its SHA-256 with the file's bytes (converted
                     as the load converted them); a mismatch fails the load.
  --json             print one line of JSON instead of the report:
                     {"ok":true,"input":..,"files":N,"tensors":N,"bytes":N,
                      "copied":N,"open_ns":N,"elapsed_ns":N,"gbps":X,
                      "chunks":N,"peak_pinned":N,"dtype":"F32",
                      "devices":[{"device":"cpu","name":..,"tensors":N,
                        "bytes":N,"copied":N,"allocs":N,"elapsed_ns":N,
                        "first_tensor_ns":N,"gbps":X},...],"verified":true}
                     tensors counts the tensors and shards placed, bytes
                     their size on the devices, copied the bytes the
                     pipeline wrote (CPU views of the file are not copied),
                     open_ns the time to open and validate INPUT, elapsed_ns
                     the load from its first allocation to its last byte,
                     gbps bytes per second of elapsed_ns in units of 1e9
                     (for zero-copy views, a measure of nothing), and a
                     device's gbps its copied bytes per second of its
                     elapsed_ns (0 when it holds only views); dtype only
                     with --dtype, verified only with --verify.
                     A failure prints {"ok":false,"kind":..,"error":..}, kind
                     being an input error's (see inspect) or NoBackend,
                     NoDevice, InvalidPlacement, UnsupportedConversion,
                     OutOfMemory, Mismatch, Canceled.
  --copy             on the CPU, copy tensors into memory of their own; by
                     default CPU tensors of a memory-mapped file are
                     zero-copy views of the mapping.
  --dry-run          print the placement plan as text (per device:
                     allocations, tensors, bytes) and load nothing.
  --lenient          open inputs inspect --lenient accepts.
  --register         copy to GPUs straight from the file's mapping, page-
                     locking windows of it in place instead of staging
                     them through pinned buffers (mapped files, no --dtype).
                     Slower on the machines measured so far (page-locking
                     runs at ~11 GB/s); see bench/RESULTS.md.
  --pread            read files with pread instead of mapping them (as
                     safetensors' backend="pread"): better on network file
                     systems, and no page faults on the reader threads.
  --timeline FILE    record when every reader, stream and chunk waited,
                     read, issued copies and saw them complete; write it as
                     JSON to FILE and as an SVG Gantt chart beside it (FILE
                     with .svg for .json), and print where the time went.
Pipeline (copies to GPUs go through a ring of pinned host buffers):
  --chunk-size SIZE  size of each staging buffer (default 8MiB; units as
                     for convert --max-shard-size: 16MiB, 8MB, 4096).
Sizes in the report are in decimal units (1 MB = 1e6 bytes) with one
decimal, as rates in GB/s are; the device table fits 80 columns.
  --chunks N         number of staging buffers (default 32): pinned host
                     memory never exceeds N × SIZE, whatever the model size.
  --readers N        goroutines reading the file (default CPUs-2, 2 to 16,
                     for GPUs; min(16, CPUs) for the CPU).
  --streams N        copy streams per GPU (default 2).

A progress bar (bytes, rate, time left) is drawn on standard error when it
is a terminal, and never under --json. Interrupting (Ctrl-C) cancels the
load cleanly: copies in flight are waited for and everything is freed.

Exit status: 0 when everything loaded (and verified), 1 when the input is
invalid, a device is missing or lacks memory, the load fails or is
interrupted, or --verify finds a difference; 2 on a usage error (unknown
flag, malformed device, --map or --shard rule).
`,
}

func init() { loadCmd.run = runLoad }

// loadFlags are load's flags.
type loadFlags struct {
	devices                  string
	rules                    []device.Option // --map and --shard, in order
	dtype                    string
	target                   dtype.DType // dtype parsed by options
	verify, json, copy, dry  bool
	register                 bool
	timeline                 string
	chunkSize                sizeFlag
	chunks, readers, streams countFlag
	in                       inputOptions
}

// ruleFlag is a flag.Value that parses a placement rule and appends it to
// a list shared by --map and --shard, so that rules keep the order of the
// command line.
type ruleFlag struct {
	rules *[]device.Option
	parse func(string) (device.Option, error)
}

func (f ruleFlag) String() string { return "" }

func (f ruleFlag) Set(s string) error {
	o, err := f.parse(s)
	if err != nil {
		return err
	}
	*f.rules = append(*f.rules, o)
	return nil
}

func runLoad(ctx context.Context, e *env, args []string) int {
	stdout, stderr := e.stdout, e.stderr
	var fl loadFlags
	pos, code, ok := parseCommand(loadCmd, fl.flagSet(), args, 1, 1, stdout, stderr)
	if !ok {
		return code
	}
	fl.in.noProgress = fl.json
	opts, devs, err := fl.options()
	if err != nil {
		return usageError(loadCmd, err, stdout, stderr)
	}
	// A device that this build or machine lacks fails before the input is
	// opened, with the device package's explanation (-tags cuda).
	for _, d := range devs {
		if err := device.Check(d); err != nil {
			return failure(ctx, err, fl.json, stdout, stderr)
		}
	}
	start := time.Now()
	c, err := openInput(ctx, e, pos[0], fl.in)
	if err != nil {
		return failure(ctx, err, fl.json, stdout, stderr)
	}
	defer c.Close()
	opened := time.Since(start)
	if fl.dry {
		return dryRun(ctx, c, opts, fl.json, stdout, stderr)
	}
	r := &loadRun{env: e, fl: fl, input: shown(pos[0])}
	return r.load(ctx, c, opened, opts)
}

// flagSet returns load's flag set, which parses into fl.
func (fl *loadFlags) flagSet() *flag.FlagSet {
	fs := newFlags(loadCmd)
	fs.StringVar(&fl.devices, "device", "auto", "")
	fs.Var(ruleFlag{&fl.rules, device.ParseMap}, "map", "")
	fs.Var(ruleFlag{&fl.rules, device.ParseShard}, "shard", "")
	fs.StringVar(&fl.dtype, "dtype", "", "")
	fs.BoolVar(&fl.verify, "verify", false, "")
	fs.BoolVar(&fl.json, "json", false, "")
	fs.BoolVar(&fl.copy, "copy", false, "")
	fs.BoolVar(&fl.dry, "dry-run", false, "")
	fs.Var(&fl.chunkSize, "chunk-size", "")
	fs.Var(&fl.chunks, "chunks", "")
	fs.Var(&fl.readers, "readers", "")
	fs.Var(&fl.streams, "streams", "")
	addInputFlags(fs, &fl.in)
	fs.BoolVar(&fl.in.pread, "pread", false, "")
	fs.BoolVar(&fl.register, "register", false, "")
	fs.StringVar(&fl.timeline, "timeline", "", "")
	return fs
}

// dryRun prints the plan of a load (--dry-run) and loads nothing.
func dryRun(ctx context.Context, src device.Source, opts []device.Option, asJSON bool, stdout, stderr io.Writer) int {
	l := device.NewPlacer()
	defer l.Close()
	p, err := l.Plan(src, opts...)
	if err != nil {
		return failure(ctx, err, asJSON, stdout, stderr)
	}
	_, err = io.WriteString(stdout, p.String())
	return writeStatus(ctx, err, stderr)
}

// loadRun is one load of an open input: its flags, and the env it
// reports in.
type loadRun struct {
	*env
	fl    loadFlags
	input string // as the report names it (shown)
}

// load places the input's tensors, verifies them with --verify, and
// prints the report.
func (r *loadRun) load(ctx context.Context, c *input, opened time.Duration, opts []device.Option) int {
	bar := r.progress(r.stderr, r.fl.json)
	if bar != nil {
		opts = append(opts, device.WithProgress(bar.update, progressInterval))
	}
	var tl *device.Timeline
	if r.fl.timeline != "" {
		tl = new(device.Timeline)
		opts = append(opts, device.WithTimeline(tl))
	}
	set, err := device.Load(ctx, c, opts...)
	if !r.fl.verify || err != nil {
		bar.done()
	}
	if err != nil {
		return loadFailure(ctx, r.input, err, r.fl.json, r.stdout, r.stderr)
	}
	defer set.Close()
	if tl != nil {
		if err := writeTimeline(tl, r.fl.timeline, r.fl.json, r.stderr); err != nil {
			return failure(ctx, err, r.fl.json, r.stdout, r.stderr)
		}
	}
	rep := newLoadReport(r.input, c.Checkpoint, set.Stats(), opened, r.fl)
	if r.fl.verify {
		if err := verify(ctx, set, rep, bar); err != nil {
			if !r.fl.json {
				rep.writeText(r.stdout) // what loaded, above the error
			}
			return loadFailure(ctx, r.input, err, r.fl.json, r.stdout, r.stderr)
		}
	}
	if r.fl.json {
		return writeStatus(ctx, writeJSON(r.stdout, rep), r.stderr)
	}
	return writeStatus(ctx, rep.writeText(r.stdout), r.stderr)
}

// verify reads the loaded tensors back (Set.Verify), saying so on the
// bar, which it erases, and records the outcome in rep.
func verify(ctx context.Context, set *device.Set, rep *loadJSON, bar *progressBar) error {
	start := time.Now()
	bar.message(fmt.Sprintf("verifying %s against the file...", sizeText(rep.Bytes)))
	err := set.Verify(ctx)
	bar.done()
	if err == nil {
		rep.Verified = true
		rep.verifyTime = time.Since(start)
	}
	return err
}

// loadFailure reports a failed load or verification: an interrupt in a
// sentence of its own, any other error as failure does.
func loadFailure(ctx context.Context, input string, err error, asJSON bool, stdout, stderr io.Writer) int {
	if !asJSON && (errors.Is(err, context.Canceled) || ctx.Err() != nil) {
		fmt.Fprintf(stderr, "stload load: %s: interrupted; everything loaded was freed\n", input)
		return exitFail
	}
	return failure(ctx, err, asJSON, stdout, stderr)
}

// auto reports whether --device is auto.
func (fl *loadFlags) auto() bool { return strings.EqualFold(strings.TrimSpace(fl.devices), "auto") }

// options turns the flags into device options, and returns the devices
// --device names explicitly (none for auto) for an early check. It sets
// fl.target from --dtype.
func (fl *loadFlags) options() ([]device.Option, []device.Device, error) {
	var opts []device.Option
	var devs []device.Device
	if fl.auto() {
		opts = append(opts, device.OnAuto())
	} else {
		var err error
		if devs, err = device.ParseDevices(fl.devices); err != nil {
			return nil, nil, fmt.Errorf("--device %q: %w", fl.devices, err)
		}
		opts = append(opts, device.On(devs...))
	}
	opts = append(opts, fl.rules...)
	var err error
	if fl.target, err = parseTarget(fl.dtype); err != nil {
		return nil, nil, err
	}
	if fl.target != dtype.Invalid {
		opts = append(opts, device.WithDType(fl.target))
	}
	if fl.copy {
		opts = append(opts, device.WithCopy())
	}
	if fl.register {
		opts = append(opts, device.WithRegister())
	}
	if fl.chunkSize.set {
		if fl.chunkSize.n < 4<<10 || fl.chunkSize.n > math.MaxInt32 {
			return nil, nil, fmt.Errorf("--chunk-size %d: want 4KiB to 2GiB", fl.chunkSize.n)
		}
		opts = append(opts, device.WithChunkSize(int(fl.chunkSize.n)))
	}
	if fl.chunks > 0 {
		opts = append(opts, device.WithChunks(int(fl.chunks)))
	}
	if fl.readers > 0 {
		opts = append(opts, device.WithReaders(int(fl.readers)))
	}
	if fl.streams > 0 {
		opts = append(opts, device.WithStreams(int(fl.streams)))
	}
	return opts, devs, nil
}

// loadJSON is load's --json output; the field order is the contract.
type loadJSON struct {
	OK         bool             `json:"ok"`
	Input      string           `json:"input"`
	Files      int              `json:"files"`
	Tensors    int              `json:"tensors"`
	Bytes      int64            `json:"bytes"`
	Copied     int64            `json:"copied"`
	OpenNS     int64            `json:"open_ns"`
	ElapsedNS  int64            `json:"elapsed_ns"`
	GBps       float64          `json:"gbps"`
	Chunks     int64            `json:"chunks"`
	PeakPinned int64            `json:"peak_pinned"`
	DType      string           `json:"dtype,omitempty"`
	Devices    []loadDeviceJSON `json:"devices"`
	Verified   bool             `json:"verified,omitempty"`

	stats        device.Stats
	sharded      bool
	ringSize     int64 // bytes per staging buffer
	ringCount    int64 // staging buffers at most
	verifyTime   time.Duration
	auto         bool // --device auto
	inputTensors int  // tensors in the input
}

// loadDeviceJSON is one device of loadJSON.
type loadDeviceJSON struct {
	Device        string  `json:"device"`
	Name          string  `json:"name"`
	Tensors       int     `json:"tensors"`
	Bytes         int64   `json:"bytes"`
	Copied        int64   `json:"copied"`
	Allocs        int     `json:"allocs"`
	ElapsedNS     int64   `json:"elapsed_ns"`
	FirstTensorNS int64   `json:"first_tensor_ns"`
	GBps          float64 `json:"gbps"`
}

func newLoadReport(input string, c *checkpoint.Checkpoint, st device.Stats, opened time.Duration, fl loadFlags) *loadJSON {
	rep := &loadJSON{
		OK: true, Input: input, Files: len(c.Files()), Tensors: st.Tensors, Bytes: st.Bytes, Copied: st.Copied,
		OpenNS: int64(opened), ElapsedNS: int64(st.Elapsed), GBps: st.GBps(), Chunks: st.Chunks, PeakPinned: st.PeakPinned,
		Devices: []loadDeviceJSON{}, stats: st, sharded: c.Sharded(), inputTensors: c.Len(), auto: fl.auto(),
	}
	if fl.target != dtype.Invalid {
		rep.DType = fl.target.String()
	}
	size, n := int64(device.DefaultChunkSize), int64(device.DefaultChunks)
	if fl.chunkSize.set {
		size = fl.chunkSize.n
	}
	if fl.chunks > 0 {
		n = int64(fl.chunks)
	}
	rep.ringSize, rep.ringCount = size, n
	for _, d := range st.Devices {
		rep.Devices = append(rep.Devices, loadDeviceJSON{
			Device: d.Device.String(), Name: d.Name, Tensors: d.Tensors, Bytes: d.Bytes, Copied: d.Copied, Allocs: d.Allocs,
			ElapsedNS: int64(d.Elapsed), FirstTensorNS: int64(d.FirstTensor), GBps: d.GBps(),
		})
	}
	return rep
}

// writeText prints the readable report: a summary line, a table of the
// devices, and the facts about memory and verification.
func (rep *loadJSON) writeText(w io.Writer) error {
	bw := bufio.NewWriter(w)
	rep.writeSummary(bw)
	rep.deviceTable().write(bw, screenWidth)
	bw.WriteString("\n")
	rep.writeNotes(bw)
	return bw.Flush()
}

// cpuOnly reports whether every tensor went to the CPU.
func (rep *loadJSON) cpuOnly() bool {
	for _, d := range rep.Devices {
		if d.Device != "cpu" {
			return false
		}
	}
	return true
}

// writeSummary writes the line that says what went where, how fast.
func (rep *loadJSON) writeSummary(bw *bufio.Writer) {
	st := rep.stats
	var where []string
	for _, d := range rep.Devices {
		where = append(where, d.Device)
	}
	what := plural(rep.inputTensors, "tensor")
	if rep.Tensors != rep.inputTensors {
		what += fmt.Sprintf(" (%d placed parts)", rep.Tensors)
	}
	if rep.sharded {
		what = fmt.Sprintf("%s in %s", what, plural(rep.Files, "shard"))
	}
	fmt.Fprintf(bw, "%s: %s, %s", rep.Input, what, sizeText(rep.Bytes))
	if rep.DType != "" {
		fmt.Fprintf(bw, " as %s", rep.DType)
	}
	fmt.Fprintf(bw, " loaded onto %s in %s", strings.Join(where, ", "), durText(st.Elapsed))
	if st.Copied > 0 {
		fmt.Fprintf(bw, " (%s GB/s)", rateText(st.GBps()))
	}
	bw.WriteString("\n\n")
}

// deviceTable returns the table of the devices, with a total row when
// there are several, and their names when they say more than the device.
func (rep *loadJSON) deviceTable() *table {
	st := rep.stats
	showName := false
	for _, d := range rep.Devices {
		showName = showName || d.Name != d.Device
	}
	head := []string{"DEVICE"}
	if showName {
		head = append(head, "NAME")
	}
	head = append(head, "TENSORS", "BYTES", "TIME", "GB/s", "FIRST TENSOR")
	tt := newTable(make([]bool, len(head))...)
	for i := len(head) - 5; i < len(head); i++ {
		tt.right[i] = true
	}
	if showName {
		tt.shrink = 1 // a GPU's name may be long
	}
	tt.add(head...)
	row := func(dev, name string, tensors int, bytes int64, elapsed, first time.Duration, gbps float64) {
		r := []string{dev}
		if showName {
			r = append(r, name)
		}
		firstText := "-"
		if first > 0 {
			firstText = durText(first)
		}
		tt.add(append(r, groupDigits(uint64(tensors)), sizeText(bytes), durText(elapsed), rateText(gbps), firstText)...)
	}
	for _, d := range st.Devices {
		// The rate of the bytes copied there: 0 for a CPU of views only.
		row(d.Device.String(), d.Name, d.Tensors, d.Bytes, d.Elapsed, d.FirstTensor, d.GBps())
	}
	if len(st.Devices) > 1 {
		gbps := st.GBps()
		if st.Copied == 0 {
			gbps = 0
		}
		row("total", "", st.Tensors, st.Bytes, st.Elapsed, firstTensor(st.Devices), gbps)
	}
	return tt
}

// firstTensor returns the earliest time any device had its first tensors,
// or 0 when none copied any.
func firstTensor(devs []device.DeviceStats) time.Duration {
	var first time.Duration
	for _, d := range devs {
		if d.FirstTensor > 0 && (first == 0 || d.FirstTensor < first) {
			first = d.FirstTensor
		}
	}
	return first
}

// writeNotes writes the facts under the table: opening time, staging
// memory, views, why --device auto chose the CPU, verification.
func (rep *loadJSON) writeNotes(bw *bufio.Writer) {
	st := rep.stats
	fmt.Fprintf(bw, "open and validate: %s", durText(time.Duration(rep.OpenNS)))
	if st.Chunks > 0 {
		fmt.Fprintf(bw, "; %s staged", plural(int(st.Chunks), "chunk"))
	}
	bw.WriteString("\n")
	if rep.cpuOnly() {
		fmt.Fprintf(bw, "peak pinned host memory: %s (the CPU needs no staging)\n", sizeText(st.PeakPinned))
	} else {
		fmt.Fprintf(bw, "peak pinned host memory: %s (cap %s: %d staging buffers of %s)\n",
			sizeText(st.PeakPinned), sizeText(rep.ringSize*rep.ringCount), rep.ringCount, groupDigits(uint64(rep.ringSize))+" bytes")
	}
	if st.PeakLocked > 0 {
		fmt.Fprintf(bw, "page cache locked in place (--register): at most %s at a time\n", sizeText(st.PeakLocked))
	}
	if views := st.Bytes - st.Copied; views > 0 {
		fmt.Fprintf(bw, "%s of CPU tensors are zero-copy views of the file's memory mapping (--copy reads them)\n", sizeText(views))
	}
	if rep.auto && rep.cpuOnly() {
		fmt.Fprintf(bw, "--device auto chose the CPU: %s\n", noGPU())
	}
	if rep.Verified {
		fmt.Fprintf(bw, "verify: ok, every tensor matches the file (%s)\n", durText(rep.verifyTime))
	}
}

// noGPU says why --device auto found no GPU: none is visible, or this
// build of stload has no CUDA backend. It is a note under a load that
// worked, not an error, so it says it in the command's words, with where
// to get the GPU build, rather than the device package's advice to
// programs (the cuda import, the build tag).
func noGPU() string {
	if hasGPUBackend() {
		return "no GPU is visible"
	}
	return "this stload was built without CUDA (the GPU build: " + installGPU + ")"
}

// hasGPUBackend reports whether this build has a GPU backend: the cuda
// build's (or one registered in its place, such as the tests' simulated
// GPU). noGPU and hintFor tell a build without CUDA by it.
func hasGPUBackend() bool {
	_, ok := device.LookupBackend(device.GPUBackend)
	return ok
}

// installGPU is the command that installs the GPU build of stload.
const installGPU = "go install -tags cuda github.com/stload/stload/cmd/stload@latest"

// cudaHint is the CLI's advice when a GPU is asked of a build without
// CUDA. The device package's error says what a program lacks (the cuda
// import, the build tag), which a user of the command cannot add: they
// need the other build of stload.
const cudaHint = `hint: this stload was built without CUDA; install the GPU build: ` +
	installGPU + ` (needs the CUDA headers: see README, "Two builds")`

// hintFor returns the line of advice the CLI adds under err, or "" when
// the error says all there is: today, cudaHint for a CUDA device that
// this build cannot open for want of the backend.
func hintFor(err error) string {
	var e *device.Error
	if hasGPUBackend() || !errors.Is(err, device.ErrNoBackend) || !errors.As(err, &e) {
		return ""
	}
	if devs, perr := device.ParseDevices(e.Device); perr == nil && len(devs) == 1 && devs[0].Backend == device.GPUBackend {
		return cudaHint
	}
	return ""
}

// writeTimeline writes tl as JSON to path and as SVG beside it, and
// prints its summary on stderr unless the output is JSON.
func writeTimeline(tl *device.Timeline, path string, asJSON bool, stderr io.Writer) error {
	svg, err := tl.WriteFiles(path)
	if err == nil && !asJSON {
		fmt.Fprintf(stderr, "timeline: %s, %s\n%s", shown(path), shown(svg), tl.Summary())
	}
	return err
}
