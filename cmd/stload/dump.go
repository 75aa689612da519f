package main

import (
	"bufio"
	"context"
	"errors"

	"github.com/stload/stload/dtype"
	"github.com/stload/stload/loader"
	"github.com/stload/stload/loader/checkpoint"
)

var dumpCmd = &command{
	name:     "dump",
	summary:  "print a tensor, or a slice of it, as bytes or values",
	synopsis: "stload dump [--slice SPEC] [--raw|--values|--json|--sha256] INPUT TENSOR",
	usage: `Usage: stload dump [--slice SPEC] [--raw | --values | --json] [--sha256] [--lenient] INPUT TENSOR

Dump writes the named tensor of INPUT, or the part of it SPEC selects, to
standard output: as raw little-endian bytes in row-major order when
standard output is not a terminal, as readable values (numpy's repr, big
tensors summarised with "...") when it is. F16, BF16, the F8 types, F6 and
F4 are decoded to their values; integers print as integers, BOOL as
true/false, C64 as complex numbers.

SPEC has one comma-separated item per leading dimension; dimensions left
out are taken whole:
  i       the position i (counted from the end when negative); the
          dimension is dropped
  a:b     positions a up to, not including, b; a: and :b and : leave out
          an end; a:b:s takes every s-th position (s > 0)
  ""      the whole tensor (the default)
Slicing follows the reference's get_slice rules: more items than
dimensions is TooManySlices, a position past the end SliceOutOfRange, and a
slice of F4 or F6 data that does not start and end on byte boundaries
MisalignedSlice. A range that starts after it stops is InvalidSlice.

Flags:
  --slice SPEC  select part of the tensor (see above)
  --raw         write raw little-endian bytes, even to a terminal
  --values      write readable values, even to a pipe or a file
  --json        write the values as one line of JSON:
                {"ok":true,"dtype":..,"shape":[..],"values":[[..],..]}
                with every element (no summary): floats as numbers, NaN
                and infinities as the strings "NaN", "Infinity",
                "-Infinity", C64 elements as [re, im]; an empty selection
                has "values":[]. Errors are JSON too (see --sha256).
  --sha256      write {"ok":true,"shape":[..],"nbytes":N,"sha256":".."}
                instead of the data, hashing the selection's bytes as they
                stream from the file. Errors under --sha256 or --json print
                {"ok":false,"kind":..,"error":..} on standard output (kinds
                TensorNotFound, TooManySlices, SliceOutOfRange,
                MisalignedSlice, InvalidSlice, or any of inspect's) and
                exit 1.
  --lenient     open files inspect --lenient accepts.

` + inputHelp + `A tensor of a checkpoint is read from the shard that holds it; only the
bytes the selection covers are read (fetched, for a URL).
`,
}

func init() { dumpCmd.run = runDump }

// dumpSHA is dump's --sha256 output; the field order is the contract.
type dumpSHA struct {
	OK     bool     `json:"ok"`
	Shape  []uint64 `json:"shape"`
	NBytes int64    `json:"nbytes"`
	SHA256 string   `json:"sha256"`
}

func runDump(ctx context.Context, e *env, args []string) int {
	stdout, stderr := e.stdout, e.stderr
	var (
		spec                     string
		raw, values, asJSON, sha bool
		in                       inputOptions
	)
	fs := newFlags(dumpCmd)
	fs.StringVar(&spec, "slice", "", "")
	fs.BoolVar(&raw, "raw", false, "")
	fs.BoolVar(&values, "values", false, "")
	fs.BoolVar(&asJSON, "json", false, "")
	fs.BoolVar(&sha, "sha256", false, "")
	addInputFlags(fs, &in)
	pos, code, ok := parseCommand(dumpCmd, fs, args, 2, 2, stdout, stderr)
	if !ok {
		return code
	}
	switch {
	case raw && values:
		return usageError(dumpCmd, errors.New("--raw and --values exclude each other"), stdout, stderr)
	case raw && asJSON && !sha:
		return usageError(dumpCmd, errors.New("--raw and --json exclude each other"), stdout, stderr)
	}
	jsonErrors := asJSON || sha

	c, err := openInput(ctx, e, pos[0], in)
	if err != nil {
		return failure(ctx, err, jsonErrors, stdout, stderr)
	}
	defer c.Close()
	f, dt, s, err := selectSlice(c.Checkpoint, pos[1], spec)
	if err != nil {
		return failure(ctx, err, jsonErrors, stdout, stderr)
	}

	switch {
	case sha:
		n, sum, err := hashSlice(s)
		if err != nil {
			return failure(ctx, err, true, stdout, stderr)
		}
		err = writeJSON(stdout, dumpSHA{OK: true, Shape: s.Shape, NBytes: n, SHA256: sum})
		return writeStatus(ctx, err, stderr)
	case asJSON:
		sel := newSelection(f, dt, s)
		defer sel.close()
		return writeStatus(ctx, sel.writeJSON(stdout), stderr)
	case values || !raw && e.terminal(stdout):
		sel := newSelection(f, dt, s)
		defer sel.close()
		return writeStatus(ctx, sel.writeRepr(stdout), stderr)
	default:
		bw := bufio.NewWriterSize(stdout, 1<<20)
		if _, err := s.WriteTo(bw); err != nil {
			return writeStatus(ctx, err, stderr)
		}
		return writeStatus(ctx, bw.Flush(), stderr)
	}
}

// selectSlice looks up the tensor in the checkpoint and applies the slice
// spec to it. It returns the file (shard) that holds the tensor and its
// element type too.
func selectSlice(c *checkpoint.Checkpoint, tensor, spec string) (*loader.File, dtype.DType, *loader.Slice, error) {
	t, err := c.Tensor(tensor)
	if err != nil {
		return nil, dtype.Invalid, nil, err
	}
	f, _ := c.File(tensor)
	idx, err := loader.ParseSpec(spec)
	if err != nil {
		// The spec's error, placed in the file and tensor.
		return nil, dtype.Invalid, nil, &loader.Error{File: f.Name(), Tensor: tensor, Cause: err}
	}
	s, err := t.Slice(idx...)
	return f, t.DType, s, err
}
