package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/stload/stload/dtype"
	"github.com/stload/stload/loader"
)

var convertCmd = &command{
	name:    "convert",
	summary: "rewrite a file in canonical form, optionally changing float dtypes",
	usage: `Usage: stload convert [--dtype bf16|f16|f32] [--lenient] IN OUT

Convert validates IN and writes its tensors and metadata to OUT in the
reference writer's canonical form: tensors ordered by dtype (widest first)
then name, no gaps, the header padded with spaces to a multiple of 8,
metadata keys sorted. A file the reference wrote (with at most one metadata
key) comes out byte-identical.

The output is written to a temporary file beside OUT, synced and renamed
over OUT, so a failure or an interrupt never leaves a half-written OUT, and
an existing OUT stays as it was until the new one is complete. OUT may be
IN itself. Tensors stream from IN to OUT a chunk at a time.

Flags:
  --dtype T  convert every floating tensor (F64, F32, F16, BF16 and the F8,
             F6 and F4 types) to T, one of bf16, f16, f32, rounding to
             nearest even; integer, BOOL and C64 tensors are copied as they
             are.
  --lenient  read files inspect --lenient accepts (duplicate keys: the last
             one wins); the output is always strictly valid.
`,
}

func init() { convertCmd.run = runConvert }

// convertTargets are the dtypes --dtype accepts.
var convertTargets = map[string]dtype.DType{"bf16": dtype.BF16, "f16": dtype.F16, "f32": dtype.F32}

func runConvert(args []string, stdout, stderr io.Writer) int {
	var to string
	var in inputOptions
	fs := newFlags(convertCmd)
	fs.StringVar(&to, "dtype", "", "")
	addInputFlags(fs, &in)
	pos, code, ok := parseCommand(convertCmd, fs, args, 2, 2, stdout, stderr)
	if !ok {
		return code
	}
	target := dtype.Invalid
	if to != "" {
		if target, ok = convertTargets[strings.ToLower(to)]; !ok {
			return usageError(convertCmd, fmt.Errorf("--dtype %q: want bf16, f16 or f32", to), stdout, stderr)
		}
	}
	f, err := openInput(pos[0], in)
	if err != nil {
		return failure(err, false, stdout, stderr)
	}
	defer f.Close()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	st, err := convertFile(ctx, f, pos[1], target)
	if errors.Is(err, context.Canceled) {
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
	fmt.Fprintf(stdout, ", %s\n", plural(int(st.bytes), "byte"))
	return exitOK
}

type convertStats struct {
	tensors, converted int
	bytes              int64 // size of the output file
}

// converts reports whether convert --dtype to changes a tensor of type dt.
func converts(dt, to dtype.DType) bool {
	return to != dtype.Invalid && dt != to && dt.Float() && dt != dtype.C64
}

// convertChunk is how many bytes of a tensor are read, converted and
// written at a time: a multiple of every element group's size (3 bytes for
// F6, 8 for the widest types). A variable so that tests can make it small.
var convertChunk int64 = 3 << 20

// convertFile writes f's tensors and metadata to out in canonical form,
// converting floating tensors to the dtype to unless it is Invalid. The
// file appears at out only once complete: on any error, or when ctx is
// cancelled, the temporary file is removed and out is left as it was.
func convertFile(ctx context.Context, f *loader.File, out string, to dtype.DType) (convertStats, error) {
	var st convertStats
	specs := make([]loader.Spec, 0, f.Len())
	for name, info := range f.Tensors() {
		dt := info.DType
		if converts(dt, to) {
			dt = to
			st.converted++
		}
		specs = append(specs, loader.Spec{Name: name, DType: dt, Shape: info.Shape})
	}
	st.tensors = len(specs)
	fw, err := loader.CreateFile(out, specs, f.Metadata())
	if err != nil {
		return st, err
	}
	st.bytes = fw.HeaderSize()
	c := chunker{ctx: ctx, mapped: f.Mapped() != nil}
	for _, spec := range fw.Tensors() {
		t, err := f.Tensor(spec.Name)
		if err == nil {
			if spec.DType == t.DType {
				err = c.copy(fw, t)
			} else {
				err = c.convert(fw, t, spec.DType)
			}
		}
		if err != nil {
			fw.Abort()
			return st, err
		}
	}
	if err := ctx.Err(); err != nil {
		fw.Abort()
		return st, err
	}
	if err := fw.Commit(); err != nil {
		return st, err
	}
	if fi, err := os.Stat(out); err == nil {
		st.bytes = fi.Size()
	}
	return st, nil
}

// chunker streams tensors a chunk at a time, stopping early when ctx is
// cancelled.
type chunker struct {
	ctx      context.Context
	mapped   bool   // the file is memory-mapped: chunks are views of it
	src, dst []byte // buffers reused across tensors
}

// each calls fn with successive pieces of at most convertChunk bytes of
// t: views of the mapping when the file is mapped (Bytes is zero-copy
// then), else read into a buffer (Bytes would read the whole tensor).
func (c *chunker) each(t loader.Tensor, fn func([]byte) error) error {
	var whole []byte
	if c.mapped && t.Len() > 0 {
		b, err := t.Bytes()
		if err != nil {
			return err
		}
		whole = b
	}
	for off := int64(0); off < t.Len(); off += convertChunk {
		if err := c.ctx.Err(); err != nil {
			return err
		}
		k := min(t.Len()-off, convertChunk)
		var p []byte
		if whole != nil {
			p = whole[off : off+k]
		} else {
			if int64(len(c.src)) < k {
				c.src = make([]byte, k)
			}
			p = c.src[:k]
			if _, err := t.ReadAt(p, off); err != nil {
				return err
			}
		}
		if err := fn(p); err != nil {
			return err
		}
	}
	return nil
}

// copy writes t's bytes to w unchanged.
func (c *chunker) copy(w io.Writer, t loader.Tensor) error {
	return c.each(t, func(p []byte) error {
		_, err := w.Write(p)
		return err
	})
}

// convert writes t's elements to w converted to the dtype to.
func (c *chunker) convert(w io.Writer, t loader.Tensor, to dtype.DType) error {
	return c.each(t, func(p []byte) error {
		need, err := dtype.ConvertedSize(int64(len(p)), t.DType, to)
		if err == nil && int64(len(c.dst)) < need {
			c.dst = make([]byte, need)
		}
		var n int
		if err == nil {
			n, err = dtype.Convert(c.dst, to, p, t.DType)
		}
		if err != nil {
			return &loader.Error{Tensor: t.Name, Offset: t.Offset(), Err: loader.ErrTensorInvalidInfo,
				Detail: fmt.Sprintf("converting %v to %v", t.DType, to), Cause: err}
		}
		_, err = w.Write(c.dst[:n])
		return err
	})
}
