package checkpoint

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stload/stload/dtype"
	"github.com/stload/stload/loader"
)

// floatTensors returns n floating tensors of assorted types with random
// finite values.
func floatTensors(t *testing.T, n int, seed uint64) map[string]loader.Data {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 3))
	types := []dtype.DType{dtype.F32, dtype.F16, dtype.BF16, dtype.F64}
	out := map[string]loader.Data{}
	for i := range n {
		dt := types[i%len(types)]
		shape := []uint64{uint64(1 + rng.IntN(5)), uint64(2 + rng.IntN(6))}
		vals := make([]float32, shape[0]*shape[1])
		for j := range vals {
			vals[j] = float32(rng.NormFloat64() * 10)
		}
		b := make([]byte, len(vals)*dt.Size())
		if err := dtype.FromFloat32(b, vals, dt); err != nil {
			t.Fatal(err)
		}
		out[fmt.Sprintf("w.%d", i)] = loader.Data{DType: dt, Shape: shape, Bytes: b}
	}
	return out
}

// TestConvert saves a mapped checkpoint's tensors converted to another
// type and expects the shards that saving the tensors converted with
// dtype.Convert gives, byte for byte.
func TestConvert(t *testing.T) {
	ctx := context.Background()
	tensors := floatTensors(t, 12, 1)
	src := filepath.Join(t.TempDir(), "src.safetensors")
	if err := loader.SaveFile(src, tensors, nil); err != nil {
		t.Fatal(err)
	}
	c, err := Open(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, to := range []dtype.DType{dtype.BF16, dtype.F16, dtype.F32, dtype.F64} {
		t.Run(to.String(), func(t *testing.T) {
			var srcs []Source
			for _, s := range c.Sources() {
				cs, err := Convert(s, to)
				if err != nil {
					t.Fatal(err)
				}
				if cs.Name != s.Name || cs.DType != to || !slices.Equal(cs.Shape, s.Shape) {
					t.Fatalf("Convert(%s) describes %v", s.Name, cs.Spec)
				}
				srcs = append(srcs, cs)
			}
			want := map[string]loader.Data{}
			for name, d := range tensors {
				n, err := dtype.ConvertedSize(int64(len(d.Bytes)), d.DType, to)
				if err != nil {
					t.Fatal(err)
				}
				b := make([]byte, n)
				if _, err := dtype.Convert(b, to, d.Bytes, d.DType); err != nil {
					t.Fatal(err)
				}
				want[name] = loader.Data{DType: to, Shape: d.Shape, Bytes: b}
			}
			got, exp := t.TempDir(), t.TempDir()
			opts := []Option{WithMaxShardSize(200), WithMetadata(map[string]string{"format": "pt"})}
			if _, err := Save(ctx, got, srcs, opts...); err != nil {
				t.Fatal(err)
			}
			wantSrcs := ckptSources(want)
			order := map[string]int{}
			for i, s := range srcs {
				order[s.Name] = i
			}
			slices.SortFunc(wantSrcs, func(a, b Source) int { return order[a.Name] - order[b.Name] })
			if _, err := Save(ctx, exp, wantSrcs, opts...); err != nil {
				t.Fatal(err)
			}
			gs, es := ckptSnapshot(t, got), ckptSnapshot(t, exp)
			if len(gs) < 3 || len(gs) != len(es) {
				t.Fatalf("wrote %d files, want %d (and several)", len(gs), len(es))
			}
			for name, b := range es {
				if !bytes.Equal(gs[name], b) {
					t.Errorf("%s differs from the shard of tensors converted with dtype.Convert", name)
				}
			}
		})
	}
}

// writeOnly is a source reader that must be copied with WriteTo: its Read
// fails.
type writeOnly struct {
	b      []byte
	closed *int
}

func (w writeOnly) Read([]byte) (int, error) {
	return 0, errors.New("Read called: WriteTo was not passed through")
}
func (w writeOnly) WriteTo(dst io.Writer) (int64, error) {
	n, err := dst.Write(w.b)
	return int64(n), err
}
func (w writeOnly) Close() error { *w.closed++; return nil }

// TestConvertSource: the converting reader copies its source through the
// source's WriteTo (a mapped file's writes straight from the mapping),
// closes the source's reader, and refuses conversions that do not exist
// with kind UnsupportedConversion.
func TestConvertSource(t *testing.T) {
	vals := []float32{1, -2.5, 3e-3, 65504, 0}
	b := make([]byte, 4*len(vals))
	dtype.FromFloat32(b, vals, dtype.F32)
	closed := 0
	s := Source{Spec: loader.Spec{Name: "x", DType: dtype.F32, Shape: []uint64{5}},
		Open: func() (io.Reader, error) { return writeOnly{b, &closed}, nil }}
	cs, err := Convert(s, dtype.BF16)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "x.safetensors")
	if err := WriteFile(context.Background(), path, []Source{cs}, nil); err != nil {
		t.Fatal(err)
	}
	if closed != 1 {
		t.Errorf("the source's reader was closed %d times, want once", closed)
	}
	f, err := loader.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tensor, _ := f.Tensor("x")
	got, _ := tensor.Bytes()
	want := make([]byte, 2*len(vals))
	dtype.Convert(want, dtype.BF16, b, dtype.F32)
	if tensor.DType != dtype.BF16 || !bytes.Equal(got, want) {
		t.Errorf("got %v %x, want BF16 %x", tensor.DType, got, want)
	}

	// The same type: the source as it is.
	if same, err := Convert(s, dtype.F32); err != nil || same.DType != dtype.F32 || same.Name != "x" {
		t.Errorf("Convert to the same type: %v %v", same.Spec, err)
	}
	// Conversions that do not exist.
	for _, tc := range []struct{ from, to dtype.DType }{{dtype.I64, dtype.F16}, {dtype.F32, dtype.I8}, {dtype.F32, dtype.C64}} {
		s := Source{Spec: loader.Spec{Name: "y", DType: tc.from, Shape: []uint64{2}}, Open: s.Open}
		_, err := Convert(s, tc.to)
		var e *loader.Error
		if !errors.Is(err, dtype.ErrUnsupported) || loader.Kind(err) != "UnsupportedConversion" || !errors.As(err, &e) || e.Tensor != "y" {
			t.Errorf("%v to %v: got %v, want UnsupportedConversion naming tensor y", tc.from, tc.to, err)
		}
	}
	// A source that gives the wrong number of bytes fails the save.
	short := Source{Spec: s.Spec, Open: func() (io.Reader, error) { return bytes.NewReader(b[:8]), nil }}
	cs, _ = Convert(short, dtype.F16)
	if err := WriteFile(context.Background(), path, []Source{cs}, nil); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("short source: %v", err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("the earlier file is gone: %v", err)
	}
}
