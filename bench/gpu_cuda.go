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

// gpuCommands are the GPU commands of the cuda build.
func gpuCommands() map[string]command {
	return map[string]command{
		"gpu-ceiling": {cmdGPUCeiling, "measure pinned and pageable host-to-device bandwidth and pinning costs"},
		"gpu-trial":   {cmdGPUTrial, "load files into GPUs once, timed, and print one Trial JSON line"},
	}
}

func cmdGPUTrial(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("gpu-trial")
	var f trialFlags
	f.define(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	inputs := fs.Args()
	if f.index != "" {
		inputs = []string{f.index}
	}
	if len(inputs) == 0 {
		return usageError{errors.New("give the files to load, or -index")}
	}
	tr := Trial{Kind: "trial", Loader: f.name, Label: f.label, Round: f.round, Device: f.dev, File: inputs[0]}
	tuning, err := f.options()
	if err != nil {
		return usageError{err}
	}
	target := f.dev
	if f.v.fillOnly {
		b, err := cudaBackend()
		if err != nil {
			return err
		}
		defer registerNoCopy("cudafill", b)()
		target = strings.Replace(target, "cuda", "cudafill", 1)
		f.verify = false // nothing lands on the device
	}
	if f.v.cold {
		note, cerr := evictInputs(inputs)
		tr.Note = note
		if cerr != nil {
			tr.Error = cerr.Error()
			jsonLine(stdout, tr)
			return cerr
		}
	}
	err = f.run(&tr, inputs, target, tuning)
	if err != nil {
		tr.Error = err.Error()
	}
	tr.ProcessS = time.Since(f.started()).Seconds()
	if jerr := jsonLine(stdout, tr); jerr != nil {
		return jerr
	}
	return err
}

// options turns the tuning flags and the variant into device options.
func (f *trialFlags) options() ([]device.Option, error) {
	tuning := gpuOptions(int(f.chunkSize), f.chunks, f.readers, f.streams)
	if f.register {
		tuning = append(tuning, device.WithRegister())
	}
	vopts, err := f.v.options(f.chunkSize > 0 || f.chunks > 0)
	if err != nil {
		return nil, err
	}
	return append(tuning, vopts...), nil
}

// run runs the trial into target, recording its timeline where
// -timeline asks for one.
func (f *trialFlags) run(tr *Trial, inputs []string, target string, tuning []device.Option) error {
	var tl *device.Timeline
	if f.v.timeline != "" {
		tl = new(device.Timeline)
		tuning = append(tuning, device.WithTimeline(tl))
	}
	err := gpuTrial(tr, inputs, target, f.verify, f.pread, tuning)
	if err == nil && tl != nil {
		err = writeTimeline(tl, f.v.timeline)
		tr.Verdict = tl.Summary().Verdict
	}
	return err
}

// started returns when the script started this process (-t0), or about
// when it was exec'd.
func (f *trialFlags) started() time.Time {
	if f.t0 > 0 {
		return time.Unix(0, int64(f.t0*1e9))
	}
	return processStart
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
	target, indexes, err := trialTarget(b, dev)
	if err != nil {
		return err
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
	recordStats(tr, set.Stats(), window, closeS)
	if cerr != nil {
		return cerr
	}
	if verify {
		return verifyTrial(ctx, tr, set)
	}
	return nil
}

// trialTarget turns -device into the placer's target option and the
// indexes of the GPUs it names.
func trialTarget(b device.Backend, dev string) ([]device.Option, []int, error) {
	n, err := b.Count()
	if err != nil {
		return nil, nil, err
	}
	if dev == "auto" {
		var indexes []int
		for i := range n {
			indexes = append(indexes, i)
		}
		return []device.Option{device.OnAuto()}, indexes, nil
	}
	d, err := device.ParseDevice(dev)
	if err != nil {
		return nil, nil, err
	}
	return []device.Option{device.On(d)}, []int{d.Index}, nil
}

// recordStats fills tr from the load's stats, its window and the time
// closing the loader took.
func recordStats(tr *Trial, st device.Stats, window time.Duration, closeS float64) {
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
}

// verifyTrial compares every tensor of set with its file, after the
// window, and records the outcome and its time in tr.
func verifyTrial(ctx context.Context, tr *Trial, set *device.Set) error {
	vs := time.Now()
	err := set.Verify(ctx)
	tr.VerifyS = time.Since(vs).Seconds()
	ok := err == nil
	tr.Verified = &ok
	return err
}
