package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/stload/stload/device"
	"github.com/stload/stload/dtype"
	"github.com/stload/stload/loader"
	"github.com/stload/stload/loader/checkpoint"
	"github.com/stload/stload/loader/httprange"
)

var convertCmd = &command{
	name:    "convert",
	summary: "rewrite a file or checkpoint: canonical form, float dtypes, (re)sharding, merging",
	usage: `Usage: stload convert [--dtype bf16|f16|f32] [--max-shard-size SIZE] [--lenient] INPUT OUT

Convert validates INPUT and writes its tensors and metadata in the reference
writer's canonical form: tensors ordered by dtype (widest first) then name,
no gaps, the header padded with spaces to a multiple of 8, metadata keys
sorted. A file the reference wrote (with at most one metadata key) comes out
byte-identical. Tensors stream from INPUT to the output a chunk at a time.

` + inputHelp + `
What is written depends on INPUT and the flags:
  --max-shard-size SIZE   OUT is a directory (created if need be) that
                          receives a transformers-compatible sharded
                          checkpoint: model-00001-of-0000N.safetensors and
                          model.safetensors.index.json (or model.safetensors
                          alone when everything fits in one shard), tensors
                          grouped in order as save_pretrained groups them.
  a single file           OUT is one safetensors file.
  a sharded checkpoint    OUT ending in ".safetensors" merges the shards
                          into that one file; any other OUT is a directory
                          resharded with the default limit of 5GB.
The shards' __metadata__ is kept (for a checkpoint, the first shard's); a
new index gets {"total_size": N} as transformers writes it.

Output is atomic. A file is written to a temporary file beside OUT, synced
and renamed over OUT, so a failure or an interrupt never leaves a
half-written OUT, and an existing OUT stays as it was until the new one is
complete; OUT may be INPUT itself. A checkpoint is written in full to a
temporary directory inside OUT, then its shards and, last, its index are
renamed into place; on failure nothing is left behind (and OUT is removed
again if convert created it). Shards of another count left in OUT by an
earlier save are removed, as transformers does. Renaming over an existing
checkpoint of the same names is not atomic across files: to replace one,
write to a new directory and swap the directories.

Flags:
  --dtype T             convert every floating tensor (F64, F32, F16, BF16
                        and the F8, F6 and F4 types) to T, one of bf16, f16,
                        f32, rounding to nearest even; integer, BOOL and C64
                        tensors are copied as they are.
  --max-shard-size SIZE the most tensor bytes per shard: decimal units as
                        transformers reads them (5GB = 5,000,000,000 bytes,
                        500MB, 100kB), binary ones (4GiB, 512MiB, 64KiB), or
                        a plain number of bytes. A tensor larger than SIZE
                        gets a shard of its own.
  --lenient             read inputs inspect --lenient accepts (duplicate
                        keys: the last one wins); the output is always
                        strictly valid.

A progress bar (bytes, rate, time left) is drawn on standard error when it
is a terminal.
`,
}

func init() { convertCmd.run = runConvert }

// convertTargets are the dtypes --dtype accepts.
var convertTargets = map[string]dtype.DType{"bf16": dtype.BF16, "f16": dtype.F16, "f32": dtype.F32}

func runConvert(args []string, stdout, stderr io.Writer) int {
	var to string
	var in inputOptions
	var maxShard sizeFlag
	fs := newFlags(convertCmd)
	fs.StringVar(&to, "dtype", "", "")
	fs.Var(&maxShard, "max-shard-size", "")
	addInputFlags(fs, &in)
	pos, code, ok := parseCommand(convertCmd, fs, args, 2, 2, stdout, stderr)
	if !ok {
		return code
	}
	target, err := parseTarget(to)
	if err != nil {
		return usageError(convertCmd, err, stdout, stderr)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	c, err := openInput(ctx, pos[0], in)
	if err != nil {
		return failure(err, false, stdout, stderr)
	}
	defer c.Close()

	bar := newProgress(stderr, false)
	var st convertStats
	var written []string
	switch out := pos[1]; {
	case maxShard.set:
		st, written, err = convertSharded(ctx, c.Files(), out, target, maxShard.n, bar)
	case c.Sharded() && !strings.HasSuffix(out, ".safetensors"):
		st, written, err = convertSharded(ctx, c.Files(), out, target, checkpoint.DefaultMaxShardSize, bar)
	default:
		st, err = convertTo(ctx, c.Files(), out, target, bar)
	}
	bar.done()
	if err != nil && (errors.Is(err, context.Canceled) || ctx.Err() != nil) {
		// An interrupt closes the input too, which can fail a read first.
		fmt.Fprintf(stderr, "stload convert: %s -> %s: interrupted; %s was not written\n", pos[0], pos[1], pos[1])
		return exitFail
	}
	if err != nil {
		fmt.Fprintf(stderr, "stload convert: %s -> %s: %s\n", pos[0], pos[1], errorText(err))
		return exitFail
	}
	fmt.Fprintf(stdout, "%s -> %s: %s", pos[0], pos[1], plural(st.tensors, "tensor"))
	if target != dtype.Invalid {
		fmt.Fprintf(stdout, " (%d converted to %v)", st.converted, target)
	}
	fmt.Fprintf(stdout, ", %s", plural(int(st.bytes), "byte"))
	if written == nil {
		fmt.Fprintln(stdout)
		return exitOK
	}
	fmt.Fprintf(stdout, " in %s\n", plural(len(written), "file"))
	tt := table{right: []bool{false, true}}
	for _, p := range written {
		size := int64(0)
		if fi, err := os.Stat(p); err == nil {
			size = fi.Size()
		}
		tt.add("  "+p, groupDigits(uint64(size)))
	}
	tt.write(stdout)
	return exitOK
}

// parseTarget parses --dtype: "" for no conversion (dtype.Invalid).
func parseTarget(to string) (dtype.DType, error) {
	if to == "" {
		return dtype.Invalid, nil
	}
	if t, ok := convertTargets[strings.ToLower(to)]; ok {
		return t, nil
	}
	return dtype.Invalid, fmt.Errorf("--dtype %q: want bf16, f16 or f32", to)
}

type convertStats struct {
	tensors, converted int
	bytes              int64 // the tensor bytes to write; once written, the size of the output file (or files)
}

// converts reports whether convert --dtype to changes a tensor of type dt.
func converts(dt, to dtype.DType) bool {
	return to != dtype.Invalid && dt != to && dt.Float() && dt != dtype.C64
}

// convertChunk is how many bytes of a tensor of a file that is not
// mapped are read at a time, to be converted: a multiple of every element
// group's size (3 bytes for F6, 8 for the widest types). A variable so
// that tests can make it small.
var convertChunk int64 = 3 << 20

// remoteChunks is how many convertChunks a converted tensor of a remote
// file is read in at a time, so that its parts are fetched in parallel
// (see httprange.WithPartSize) rather than one small request at a
// time.
const remoteChunks = 16

// convertTo writes the tensors of files (one file, or a checkpoint's
// shards) to the single file out in canonical form, with the first file's
// metadata, converting floating tensors to the dtype to unless it is
// Invalid. The file appears at out only once complete: on any error, or
// when ctx is cancelled, the temporary file is removed and out is left as
// it was. bar, if not nil, shows the progress.
func convertTo(ctx context.Context, files []*loader.File, out string, to dtype.DType, bar *progressBar) (convertStats, error) {
	srcs, st := convertSources(files, to)
	srcs, stop := meterSources(srcs, st.bytes, bar)
	err := checkpoint.WriteFile(ctx, out, srcs, firstMetadata(files))
	stop()
	if err != nil {
		return st, err
	}
	if fi, err := os.Stat(out); err == nil {
		st.bytes = fi.Size()
	}
	return st, nil
}

// convertSharded writes the tensors of files into directory dir as a
// sharded checkpoint with shards of at most maxShard bytes of tensor
// data, every shard with the first file's metadata. It returns the paths
// written, the index last.
func convertSharded(ctx context.Context, files []*loader.File, dir string, to dtype.DType, maxShard int64, bar *progressBar) (convertStats, []string, error) {
	srcs, st := convertSources(files, to)
	srcs, stop := meterSources(srcs, st.bytes, bar)
	written, err := checkpoint.Save(ctx, dir, srcs, checkpoint.WithMaxShardSize(maxShard), checkpoint.WithMetadata(firstMetadata(files)))
	stop()
	if err != nil {
		return st, nil, err
	}
	st.bytes = 0
	for _, p := range written {
		if fi, err := os.Stat(p); err == nil {
			st.bytes += fi.Size()
		}
	}
	return st, written, nil
}

// firstMetadata returns the __metadata__ of the first file: a single
// file's own, or a checkpoint's first shard's (transformers writes the
// same {"format": "pt"} in every shard).
func firstMetadata(files []*loader.File) map[string]string {
	if len(files) == 0 {
		return nil
	}
	return files[0].Metadata()
}

// convertSources returns a source for every tensor of files, in file
// order, converting the floating ones to the dtype to unless it is
// Invalid, with the counts of convertStats (bytes: the tensor bytes to
// write).
func convertSources(files []*loader.File, to dtype.DType) ([]checkpoint.Source, convertStats) {
	var st convertStats
	var scratch []byte // shared: the writers open one source at a time
	var srcs []checkpoint.Source
	for _, f := range files {
		for name := range f.Tensors() {
			t, err := f.Tensor(name)
			if err != nil {
				// Only a closed file fails here: let the source report it.
				srcs = append(srcs, failedSource(name, err))
				continue
			}
			st.tensors++
			if !converts(t.DType, to) {
				srcs = append(srcs, checkpoint.SourceOf(t))
				st.bytes += t.Len()
				continue
			}
			st.converted++
			src, n := convertSource(f, t, to, &scratch)
			srcs = append(srcs, src)
			st.bytes += n
		}
	}
	return srcs, st
}

// failedSource is a source whose Open fails with err.
func failedSource(name string, err error) checkpoint.Source {
	return checkpoint.Source{Spec: loader.Spec{Name: name}, Open: func() (io.Reader, error) { return nil, err }}
}

// convertSource returns a Source that produces the elements of t, a
// tensor of f, converted to the dtype to, and the number of bytes it
// produces. A file that is not mapped is read into *scratch, a buffer
// that every source of a conversion shares.
func convertSource(f *loader.File, t loader.Tensor, to dtype.DType, scratch *[]byte) (checkpoint.Source, int64) {
	spec := loader.Spec{Name: t.Name, DType: to, Shape: t.Shape}
	n, err := dtype.ConvertedSize(t.Len(), t.DType, to)
	if err != nil {
		return checkpoint.Source{Spec: spec, Open: func() (io.Reader, error) { return nil, convertError(t, to, err) }}, 0
	}
	// Convert takes whole element groups only (3 bytes of F6, 1 of F4).
	_, inGroup := elementGroup(t.DType)
	outGroup, _ := dtype.ConvertedSize(inGroup, t.DType, to)
	return checkpoint.Source{Spec: spec, Open: func() (io.Reader, error) {
		r := &convertReader{f: f, t: t, to: to, scratch: scratch, fetch: convertChunk, inGroup: int(inGroup), outGroup: int(outGroup)}
		if httprange.IsURL(f.Name()) {
			r.fetch *= remoteChunks
		}
		if isMapped(f) && t.Len() > 0 {
			// The whole tensor, a view of the mapping: nothing is read.
			b, err := t.Bytes()
			if err != nil {
				return nil, err
			}
			r.in, r.off = b, t.Len()
		}
		return r, nil
	}}, n
}

// convertReader reads a tensor's elements converted to another dtype. It
// converts straight into the caller's buffer, as many whole element
// groups as fit, from the mapping when the file is mapped, else from
// chunks of fetch bytes read into the shared scratch buffer.
type convertReader struct {
	f                 *loader.File
	t                 loader.Tensor
	to                dtype.DType
	scratch           *[]byte
	fetch             int64
	inGroup, outGroup int    // bytes of one element group, before and after
	off               int64  // the next offset in the tensor to read
	in                []byte // read and not yet converted
	spill             []byte // converted and not yet returned (see Read)
	spillBuf          [16]byte
}

func (r *convertReader) Read(p []byte) (int, error) {
	if len(r.spill) == 0 && len(r.in) == 0 {
		if err := r.next(); err != nil {
			return 0, err
		}
	}
	if len(r.spill) == 0 && len(p) < r.outGroup {
		// p cannot hold one converted group (16 bytes at most: four F6
		// elements as F32): convert one aside and return it in pieces.
		n, err := r.convert(r.spillBuf[:], r.inGroup)
		if err != nil {
			return 0, err
		}
		r.spill = r.spillBuf[:n]
	}
	if len(r.spill) > 0 {
		n := copy(p, r.spill)
		r.spill = r.spill[n:]
		return n, nil
	}
	return r.convert(p, min(len(p)/r.outGroup*r.inGroup, len(r.in)))
}

// convert converts the next k bytes read, whole element groups, into dst.
func (r *convertReader) convert(dst []byte, k int) (int, error) {
	n, err := dtype.Convert(dst, r.to, r.in[:k], r.t.DType)
	if err != nil {
		return 0, convertError(r.t, r.to, err)
	}
	r.in = r.in[k:]
	return n, nil
}

// next reads the next chunk of the tensor into the scratch buffer, or
// returns io.EOF at its end.
func (r *convertReader) next() error {
	if r.off >= r.t.Len() {
		return io.EOF
	}
	k := min(r.t.Len()-r.off, r.fetch)
	if int64(len(*r.scratch)) < k {
		*r.scratch = make([]byte, k)
	}
	in := (*r.scratch)[:k]
	if _, err := r.f.ReadAt(in, r.t.Offset()+r.off); err != nil {
		return err
	}
	r.in, r.off = in, r.off+k
	return nil
}

func convertError(t loader.Tensor, to dtype.DType, err error) error {
	return &loader.Error{Tensor: t.Name, Offset: t.Offset(), Err: device.ErrConvert,
		Detail: fmt.Sprintf("converting %v to %v", t.DType, to), Cause: err}
}

// isMapped reports whether f is memory-mapped.
func isMapped(f *loader.File) bool {
	m, release, err := f.Mapping()
	release()
	return err == nil && m != nil
}

// meterSources wraps srcs so that the bytes they produce advance bar,
// which a ticker redraws every progressInterval until stop is called, and
// stop once more. With a nil bar it returns srcs as they are.
func meterSources(srcs []checkpoint.Source, total int64, bar *progressBar) ([]checkpoint.Source, func()) {
	if bar == nil {
		return srcs, func() {}
	}
	var done atomic.Int64
	out := make([]checkpoint.Source, len(srcs))
	for i, s := range srcs {
		open := s.Open
		s.Open = func() (io.Reader, error) {
			r, err := open()
			if err != nil {
				return nil, err
			}
			if wt, ok := r.(io.WriterTo); ok {
				// Keep the source's WriteTo, which writes from a mapping
				// without a copy.
				return &countingWriterTo{countingReader{r: r, n: &done}, wt}, nil
			}
			return &countingReader{r: r, n: &done}, nil
		}
		out[i] = s
	}
	draw := func() { bar.update(done.Load(), total) }
	stop := tick(progressInterval, draw)
	return out, func() {
		stop()
		draw() // the end, as device.WithProgress reports it
	}
}

// tick calls fn every interval until the returned function is called,
// which waits for a call in progress to end.
func tick(interval time.Duration, fn func()) func() {
	quit, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				fn()
			case <-quit:
				return
			}
		}
	}()
	return func() {
		close(quit)
		<-stopped
	}
}

// countingReader counts the bytes read through it into n.
type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// countingWriterTo is a countingReader whose reader has a WriteTo method,
// which it keeps, counting what it writes.
type countingWriterTo struct {
	countingReader
	wt io.WriterTo
}

func (c *countingWriterTo) WriteTo(w io.Writer) (int64, error) {
	return c.wt.WriteTo(countingWriter{w: w, n: c.n})
}

// countingWriter counts the bytes written through it into n.
type countingWriter struct {
	w io.Writer
	n *atomic.Int64
}

func (c countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n.Add(int64(n))
	return n, err
}

// Close closes the underlying reader when it is an io.Closer, as the
// writers would have.
func (c *countingReader) Close() error {
	if cl, ok := c.r.(io.Closer); ok {
		return cl.Close()
	}
	return nil
}
