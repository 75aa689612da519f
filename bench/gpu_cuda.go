//go:build cuda

package bench

// The GPU half of the harness. It is isolated in this file (and
// gpu_ceiling_cuda.go) so that it can follow the device package's API as
// that evolves: everything else in the package is GPU-agnostic and reads
// the Trial lines these commands print.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/stload/stload/device"
	"github.com/stload/stload/loader"
	"github.com/stload/stload/loader/checkpoint"
)

// processStart approximates exec time for a trial started without -t0.
var processStart = time.Now()

func init() {
	commands["gpu-ceiling"] = command{cmdGPUCeiling, "measure pinned and pageable host-to-device bandwidth and pinning costs"}
	commands["gpu-trial"] = command{cmdGPUTrial, "load files into GPUs once, timed, and print one Trial JSON line"}
}

func cmdGPUTrial(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("gpu-trial", stderr)
	index := fs.String("index", "", "model.safetensors.index.json: load every shard it names (as a FILE argument would)")
	dev := fs.String("device", "cuda:0", "target device, or 'auto' for every visible GPU (layers balanced)")
	label := fs.String("label", "", "which file this is (llama, moe, sharded), for the report")
	name := fs.String("loader", "stload", "loader name in the report (to tell tuning variants apart)")
	round := fs.Int("round", 0, "round number, for the report")
	t0 := fs.Float64("t0", 0, "Unix time (seconds) the script started this process, for the process wall time")
	verify := fs.Bool("verify", false, "after the timed window, compare every tensor on the device with the file")
	pread := fs.Bool("pread", false, "open files with loader.WithPread instead of mapping them")
	register := fs.Bool("register", false, "copy straight from page-locked windows of the mapping (device.WithRegister)")
	var chunkSize sizeFlag
	fs.Var(&chunkSize, "chunk-size", "staging buffer size (default: the device package's)")
	chunks := fs.Int("chunks", 0, "staging buffers (default: the device package's)")
	readers := fs.Int("readers", 0, "reading goroutines (default: the device package's)")
	streams := fs.Int("streams", 0, "copy streams per device (default: the device package's)")
	var v trialVariant
	v.flags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	inputs := fs.Args()
	if *index != "" {
		inputs = []string{*index}
	}
	if len(inputs) == 0 {
		return usageError{errors.New("give the files to load, or -index")}
	}
	tr := Trial{Kind: "trial", Loader: *name, Label: *label, Round: *round, Device: *dev, File: inputs[0]}
	tuning := gpuOptions(int(chunkSize), *chunks, *readers, *streams)
	if *register {
		tuning = append(tuning, device.WithRegister())
	}
	vopts, err := v.options(chunkSize > 0 || *chunks > 0)
	if err != nil {
		return usageError{err}
	}
	tuning = append(tuning, vopts...)
	target := *dev
	if v.fillOnly {
		b, err := cudaBackend()
		if err != nil {
			return err
		}
		defer registerNoCopy("cudafill", b)()
		target = strings.Replace(target, "cuda", "cudafill", 1)
		*verify = false // nothing lands on the device
	}
	if v.cold {
		note, cerr := evictInputs(inputs)
		tr.Note = note
		if cerr != nil {
			tr.Error = cerr.Error()
			jsonLine(stdout, tr)
			return cerr
		}
	}
	var tl *device.Timeline
	if v.timeline != "" {
		tl = new(device.Timeline)
		tuning = append(tuning, device.WithTimeline(tl))
	}
	err = gpuTrial(&tr, inputs, target, *verify, *pread, tuning)
	if err == nil && tl != nil {
		err = writeTimeline(tl, v.timeline)
		tr.Verdict = tl.Summary().Verdict
	}
	if err != nil {
		tr.Error = err.Error()
	}
	start := processStart
	if *t0 > 0 {
		start = time.Unix(0, int64(*t0*1e9))
	}
	tr.ProcessS = time.Since(start).Seconds()
	if jerr := jsonLine(stdout, tr); jerr != nil {
		return jerr
	}
	return err
}

// gpuOptions turns the tuning flags into device options (zero: default).
func gpuOptions(chunkSize, chunks, readers, streams int) []device.Option {
	var o []device.Option
	if chunkSize > 0 {
		o = append(o, device.WithChunkSize(chunkSize))
	}
	if chunks > 0 {
		o = append(o, device.WithChunks(chunks))
	}
	if readers > 0 {
		o = append(o, device.WithReaders(readers))
	}
	if streams > 0 {
		o = append(o, device.WithStreams(streams))
	}
	return o
}

// gpuTrial runs one load as the protocol's step 4 says: the CUDA context
// exists before the window; the window covers opening the inputs (files,
// or the index of a sharded checkpoint and its shards), parsing their
// headers, allocating device memory, every copy and the final
// synchronization, and ends when every tensor handle exists. Freeing the
// staging ring and verifying come after it.
func gpuTrial(tr *Trial, inputs []string, dev string, verify, pread bool, tuning []device.Option) error {
	ctxStart := time.Now()
	b, err := cudaBackend()
	if err != nil {
		return err
	}
	n, err := b.Count()
	if err != nil {
		return err
	}
	var target []device.Option
	var indexes []int
	if dev == "auto" {
		target = []device.Option{device.OnAuto()}
		for i := range n {
			indexes = append(indexes, i)
		}
	} else {
		d, err := device.ParseDevice(dev)
		if err != nil {
			return err
		}
		target = []device.Option{device.On(d)}
		indexes = []int{d.Index}
	}
	// Retaining each primary context here makes the load's own Open cheap:
	// the context then already exists, as torch.zeros(1, device="cuda")
	// makes it exist before the Python baselines' windows.
	for _, i := range indexes {
		a, err := b.Open(i)
		if err != nil {
			return err
		}
		defer a.Close()
	}
	tr.ContextS = time.Since(ctxStart).Seconds()

	var fopts []loader.Option
	if pread {
		fopts = append(fopts, loader.WithPread())
	}
	l := device.NewPlacer(append(target, tuning...)...)
	ctx := context.Background()
	start := time.Now()
	var files []*loader.File
	for _, p := range inputs {
		c, err := checkpoint.Open(ctx, p, checkpoint.WithLoaderOptions(fopts...))
		if err != nil {
			l.Close()
			return err
		}
		defer c.Close()
		files = append(files, c.Files()...)
	}
	set, err := l.Load(ctx, device.Files(files...))
	window := time.Since(start)
	closeStart := time.Now()
	cerr := l.Close() // frees the pinned ring: after the window, reported
	closeS := time.Since(closeStart).Seconds()
	if err != nil {
		return errors.Join(err, cerr)
	}
	defer set.Close()
	st := set.Stats()
	tr.Seconds = window.Seconds()
	tr.Bytes, tr.Tensors, tr.Devices = st.Bytes, st.Tensors, len(st.Devices)
	tr.GBps = float64(st.Bytes) / tr.Seconds / 1e9
	tr.PinnedBytes = st.PeakPinned
	var first time.Duration
	for _, d := range st.Devices {
		tr.DeviceBytes += d.Bytes
		if d.FirstTensor > 0 && (first == 0 || d.FirstTensor < first) {
			first = d.FirstTensor
		}
	}
	// Stats time from the start of the load proper; the window began
	// earlier, at opening the files.
	if first > 0 {
		tr.FirstTensorS = (window - st.Elapsed + first).Seconds()
	}
	tr.Note = strings.TrimPrefix(tr.Note+"; loader close "+strconv.FormatFloat(closeS*1e3, 'f', 1, 64)+" ms; chunks "+strconv.FormatInt(st.Chunks, 10), "; ")
	tr.DirectBytes = st.Direct
	if st.PeakLocked > 0 {
		tr.Note += fmt.Sprintf("; page cache locked in place at most %d MiB", st.PeakLocked>>20)
	}
	if cerr != nil {
		return cerr
	}
	if verify {
		vs := time.Now()
		err := set.Verify(ctx)
		tr.VerifyS = time.Since(vs).Seconds()
		ok := err == nil
		tr.Verified = &ok
		if err != nil {
			return err
		}
	}
	return nil
}
