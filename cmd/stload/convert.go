package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/stload/stload/dtype"
	"github.com/stload/stload/loader"
	"github.com/stload/stload/loader/checkpoint"
)

var convertCmd = &command{
	name:     "convert",
	summary:  "rewrite a file or checkpoint: canonical form, float dtypes, (re)sharding, merging",
	synopsis: "stload convert [--dtype T] [--max-shard-size SIZE] [--lenient] INPUT OUT",
	usage: `Usage: stload convert [--dtype T] [--max-shard-size SIZE] [--lenient] INPUT OUT

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

OUT is checked before anything is read or written:
  - OUT written as a URL (http://, s3://, ...) is refused: convert writes
    local files.
  - OUT ending in ".json" is refused: convert writes a .safetensors file or
    a checkpoint directory (whose index it names itself); name the file
    (out.safetensors) or the directory (out/). With --max-shard-size, so
    is OUT ending in ".safetensors": the output is a directory (out/).
  - When one file is written and OUT is an existing directory, or ends in
    "/" (it is then created if need be), the file goes into it under the
    input file's name, as cp does: convert a.safetensors dir/ writes
    dir/a.safetensors.
  - The directory that receives the output (for a new directory, its
    parent) must exist and be writable.
  - There must be room: the output's size is known (tensor bytes after
    conversion plus headers), and convert refuses to start when the file
    system has less free space, saying how much it needs and has.

Output is atomic. A file is written to a temporary file beside OUT, synced
and renamed over OUT, so a failure or an interrupt never leaves a
half-written OUT, and an existing OUT stays as it was until the new one is
complete; OUT may be INPUT itself. A checkpoint is written in full to a
temporary directory inside OUT, then its shards and, last, its index are
renamed into place; on failure nothing is left behind (and OUT is removed
again if convert created it). Shards of another count left in OUT by an
earlier save are removed, as transformers does. A single file written
into a directory that holds a sharded checkpoint of its name (convert
ckpt/ ckpt/model.safetensors merges a checkpoint in place) replaces that
checkpoint: the old index is retired before anything else is touched and
the old shards are removed once the file is in, so that no reader finds
the old index beside the new file. Replacing a checkpoint is crash-safe:
whenever convert stops, the directory holds the old checkpoint whole, the
new one whole, or a state that every stload command refuses as
IncompleteCheckpoint, which the next convert into it cleans up.

Flags:
  --dtype T             convert every floating tensor (F64, F32, F16, BF16
                        and the F8, F6 and F4 types) to T, rounding to
                        nearest even; integer, BOOL and C64 tensors are
                        copied as they are. T is a whole-byte floating type
                        in any spelling dtype.Parse reads: bf16, bfloat16,
                        f16, float16, half, torch.float16, f32, float32,
                        f64, float8_e4m3fn, float8_e5m2, float8_e8m0fnu, ...
  --max-shard-size SIZE the most tensor bytes per shard: ` + sizeHelp + `.
                        A tensor larger than SIZE gets a shard of its own.
  --lenient             read inputs inspect --lenient accepts (duplicate
                        keys: the last one wins); the output is always
                        strictly valid.

A progress bar (bytes, rate, time left, then "syncing" while the output
is flushed to disk) is drawn on standard error when it is a terminal.
Interrupting (Ctrl-C) removes the temporary output and exits 130.
`,
}

func init() { convertCmd.run = runConvert }

func runConvert(ctx context.Context, e *env, args []string) int {
	stdout, stderr := e.stdout, e.stderr
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
	if err == nil {
		err = checkOutName(pos[1], maxShard.set)
	}
	if err != nil {
		return usageError(convertCmd, err, stdout, stderr)
	}
	if err := checkOutParent(pos[1]); err != nil {
		return failure(ctx, err, false, stdout, stderr)
	}
	c, err := openInput(ctx, e, pos[0], in)
	if err != nil {
		return failure(ctx, err, false, stdout, stderr)
	}
	defer c.Close()
	sharded := maxShard.set || c.Sharded() && !strings.HasSuffix(pos[1], ".safetensors")
	srcs, st, err := convertSources(c.Files(), target)
	if err != nil {
		return failure(ctx, err, false, stdout, stderr)
	}
	dst, err := resolveOut(e, c.Checkpoint, pos[1], sharded, st.bytes)
	if err != nil {
		return failure(ctx, err, false, stdout, stderr)
	}
	bar := e.progress(stderr, false)
	var written []string
	switch {
	case maxShard.set:
		written, err = convertSharded(ctx, c.Files(), srcs, st.bytes, dst, maxShard.n, bar)
	case sharded:
		written, err = convertSharded(ctx, c.Files(), srcs, st.bytes, dst, checkpoint.DefaultMaxShardSize, bar)
	case dst.replaces != "":
		written, err = convertReplacing(ctx, c.Files(), srcs, st.bytes, dst, bar)
	default:
		written, err = convertTo(ctx, c.Files(), srcs, st.bytes, dst, bar)
	}
	bar.done()
	return convertReport(ctx, pos[0], dst, target, st, written, err, stdout, stderr)
}

// convertReport prints what convert did, or why it did not.
func convertReport(ctx context.Context, input string, dst destination, target dtype.DType, st convertStats, written []string, err error, stdout, stderr io.Writer) int {
	if err != nil {
		dst.abandon()
	}
	if err != nil && (errors.Is(err, context.Canceled) || ctx.Err() != nil) {
		// An interrupt closes the input too, which can fail a read first.
		fmt.Fprintf(stderr, "stload convert: %s -> %s: interrupted; %s was not written\n", shown(input), shown(dst.path), shown(dst.path))
		return exitFail
	}
	if err != nil {
		return failure(ctx, err, false, stdout, stderr)
	}
	st.bytes = 0
	for _, p := range written {
		if fi, err := os.Stat(p); err == nil {
			st.bytes += fi.Size()
		}
	}
	fmt.Fprintf(stdout, "%s -> %s: %s", shown(input), shown(dst.path), plural(st.tensors, "tensor"))
	if target != dtype.Invalid {
		fmt.Fprintf(stdout, " (%d converted to %v)", st.converted, target)
	}
	fmt.Fprintf(stdout, ", %s (%s)", plural(int(st.bytes), "byte"), sizeText(st.bytes))
	if !dst.sharded {
		fmt.Fprintln(stdout)
		return exitOK
	}
	fmt.Fprintf(stdout, " in %s\n", plural(len(written), "file"))
	tt := newTable(false, true)
	for _, p := range written {
		size := int64(0)
		if fi, err := os.Stat(p); err == nil {
			size = fi.Size()
		}
		tt.add("  "+shown(p), groupDigits(uint64(size)))
	}
	return writeStatus(ctx, tt.write(stdout, 0), stderr)
}

// parseTarget parses --dtype: "" for no conversion (dtype.Invalid), else
// any spelling dtype.Parse takes of a type Convert writes (bf16, float16,
// torch.float32, float8_e4m3fn, ...).
func parseTarget(to string) (dtype.DType, error) {
	if to == "" {
		return dtype.Invalid, nil
	}
	t, err := dtype.Parse(to)
	if err != nil {
		return dtype.Invalid, fmt.Errorf("--dtype: %w", err)
	}
	if _, err := dtype.ConvertedSize(0, dtype.F32, t); err != nil || t == dtype.C64 {
		return dtype.Invalid, fmt.Errorf("--dtype %q: %v is not a conversion target: want a whole-byte floating type (bf16, f16, f32, f64, float8_e4m3fn, ...)", to, t)
	}
	return t, nil
}

type convertStats struct {
	tensors, converted int
	bytes              int64 // the tensor bytes to write; once written, the size of the output file (or files)
}

// converts reports whether convert --dtype to changes a tensor of type dt.
func converts(dt, to dtype.DType) bool {
	return to != dtype.Invalid && dt != to && dt.Float() && dt != dtype.C64
}

// convertTo writes the sources of the tensors of files (one file, or a
// checkpoint's shards) to the single file dst.path in canonical form, with
// the first file's metadata. The file appears there only once complete:
// on any error, or when ctx is cancelled, the temporary file is removed and
// dst.path is left as it was. bar, if not nil, shows the progress of the
// total bytes the sources produce, then the syncing.
func convertTo(ctx context.Context, files []*loader.File, srcs []checkpoint.Source, total int64, dst destination, bar *progressBar) ([]string, error) {
	srcs, stop := meterSources(srcs, total, bar)
	err := checkpoint.WriteFile(ctx, dst.path, srcs, firstMetadata(files))
	stop()
	if err != nil {
		return nil, err
	}
	return []string{dst.path}, nil
}

// convertSharded writes the sources of the tensors of files into directory
// dst.path as a sharded checkpoint with shards of at most maxShard bytes of
// tensor data, every shard with the first file's metadata. It returns the
// paths written, the index last.
func convertSharded(ctx context.Context, files []*loader.File, srcs []checkpoint.Source, total int64, dst destination, maxShard int64, bar *progressBar) ([]string, error) {
	srcs, stop := meterSources(srcs, total, bar)
	written, err := checkpoint.Save(ctx, dst.path, srcs, checkpoint.WithMaxShardSize(maxShard), checkpoint.WithMetadata(firstMetadata(files)))
	stop()
	return written, err
}

// convertReplacing writes the sources of the tensors of files to the
// single file dst.path, which replaces a sharded checkpoint of the same
// prefix in its directory: checkpoint.Save with no limit on the shard
// size writes the one file, and retires the old index (first) and
// shards, so that at every instant the directory holds the old
// checkpoint or the new file, or is refused as incomplete.
func convertReplacing(ctx context.Context, files []*loader.File, srcs []checkpoint.Source, total int64, dst destination, bar *progressBar) ([]string, error) {
	srcs, stop := meterSources(srcs, total, bar)
	written, err := checkpoint.Save(ctx, filepath.Dir(dst.path), srcs, checkpoint.WithPrefix(dst.replaces),
		checkpoint.WithMaxShardSize(math.MaxInt64), checkpoint.WithMetadata(firstMetadata(files)))
	stop()
	return written, err
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
// order, converting the floating ones to the dtype to
// (checkpoint.Convert) unless it is Invalid, with the counts of
// convertStats (bytes: the tensor bytes to write). A conversion that
// does not exist fails here, before anything is written, naming the file
// and the tensor (kind UnsupportedConversion).
func convertSources(files []*loader.File, to dtype.DType) ([]checkpoint.Source, convertStats, error) {
	var st convertStats
	var srcs []checkpoint.Source
	for _, f := range files {
		s := checkpoint.SourcesOf(f)
		if err := convertTensors(s, f, to, &st); err != nil {
			return nil, st, err
		}
		if srcs == nil {
			srcs = s // a single file's: no second copy of what may be a million Sources
		} else {
			srcs = append(srcs, s...)
		}
	}
	return srcs, st, nil
}

// convertTensors makes the sources of f's tensors, srcs, convert the
// floating ones to the dtype to (unless it is Invalid), and counts them
// into st. A conversion that does not exist is found by its size, before
// checkpoint.Convert (which fails exactly then), so that the error names
// the file and the tensor's offset as well as the tensor.
func convertTensors(srcs []checkpoint.Source, f *loader.File, to dtype.DType, st *convertStats) error {
	for i := range srcs {
		st.tensors++
		t := f.TensorAt(i)
		n := t.End - t.Begin
		if converts(t.DType, to) {
			var err error
			if n, err = dtype.ConvertedSize(n, t.DType, to); err != nil {
				return &loader.Error{File: f.Name(), Tensor: t.Name, Offset: t.Offset(),
					Detail: fmt.Sprintf("converting %v to %v", t.DType, to), Cause: err}
			}
			if srcs[i], err = checkpoint.Convert(srcs[i], to); err != nil {
				return err
			}
			st.converted++
		}
		st.bytes += n
	}
	return nil
}

// meterSources wraps srcs, in place, so that the bytes they produce
// advance bar, which a ticker redraws every progressInterval until stop is
// called, and stop once more. Once the sources have produced all total bytes, the
// bar says "syncing" while the writer flushes the output to disk. With a
// nil bar it returns srcs as they are.
func meterSources(srcs []checkpoint.Source, total int64, bar *progressBar) ([]checkpoint.Source, func()) {
	if bar == nil {
		return srcs, func() {}
	}
	m := &meter{total: total}
	draw := func() {
		if n := m.n.Load(); n < total || total == 0 {
			bar.update(n, total)
		} else {
			// Every byte is out of the sources: the writer is flushing
			// and fsyncing the output before it renames it into place.
			bar.syncing(total)
		}
	}
	m.full = draw
	for i := range srcs {
		open := srcs[i].Open
		srcs[i].Open = func() (io.Reader, error) {
			r, err := open()
			if err != nil {
				return nil, err
			}
			if wt, ok := r.(io.WriterTo); ok {
				// Keep the source's WriteTo, which writes from a mapping
				// without a copy.
				return &countingWriterTo{countingReader{r: r, m: m}, wt}, nil
			}
			return &countingReader{r: r, m: m}, nil
		}
	}
	stop := tick(progressInterval, draw)
	return srcs, func() {
		stop()
		draw() // the end, as device.WithProgress reports it
	}
}

// meter counts bytes towards a total, and calls full (if set) when they
// reach it.
type meter struct {
	n     atomic.Int64
	total int64
	full  func()
}

func (m *meter) add(k int) {
	if k > 0 && m.n.Add(int64(k)) == m.total && m.full != nil {
		m.full()
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

// countingReader counts the bytes read through it into m.
type countingReader struct {
	r io.Reader
	m *meter
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.m.add(n)
	return n, err
}

// countingWriterTo is a countingReader whose reader has a WriteTo method,
// which it keeps, counting what it writes.
type countingWriterTo struct {
	countingReader
	wt io.WriterTo
}

func (c *countingWriterTo) WriteTo(w io.Writer) (int64, error) {
	return c.wt.WriteTo(countingWriter{w: w, m: c.m})
}

// countingWriter counts the bytes written through it into m.
type countingWriter struct {
	w io.Writer
	m *meter
}

func (c countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.m.add(n)
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
