package main

import (
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stload/stload/dtype"
	"github.com/stload/stload/loader"
)

// TestShownValues checks the elements a summarised repr decodes against
// a full decode, for whole-byte and sub-byte types and for slices whose
// runs do not start on an element group.
func TestShownValues(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub.safetensors")
	data := map[string]loader.Data{}
	for _, c := range []struct {
		dt    dtype.DType
		shape []uint64
	}{
		{dtype.F4, []uint64{2002}},
		{dtype.F6_E2M3, []uint64{50, 40}},
		{dtype.F6_E3M2, []uint64{3, 7, 8, 4}},
		{dtype.BF16, []uint64{1001}},
		{dtype.I16, []uint64{20, 3, 30}},
	} {
		n := uint64(1)
		for _, d := range c.shape {
			n *= d
		}
		b := make([]byte, n*uint64(c.dt.Bits())/8)
		for i := range b {
			b[i] = byte(i*7 + i/3)
		}
		data[c.dt.String()] = loader.Data{DType: c.dt, Shape: c.shape, Bytes: b}
	}
	if err := loader.SaveFile(path, data, nil); err != nil {
		t.Fatal(err)
	}
	f, err := loader.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for name, info := range f.Tensors() {
		for _, spec := range []string{"", "1:", "-1", "::3"} {
			idx, _ := loader.ParseSpec(spec)
			s, err := info.Slice(idx...)
			if err != nil {
				continue // MisalignedSlice for some sub-byte selections
			}
			gathered, err := s.Bytes()
			if err != nil {
				t.Fatal(err)
			}
			all, err := decodeValues(info.DType, gathered)
			if err != nil {
				t.Fatal(err)
			}
			sel := newSelection(f, info.DType, s)
			for _, summarize := range []bool{false, true} {
				got, err := sel.shownValues(summarize)
				if err != nil {
					t.Fatal(err)
				}
				want := pick(all, s.Shape, summarize)
				if !slices.EqualFunc(got, want, func(a, b value) bool {
					return a.u == b.u && a.i == b.i && (a.re == b.re || math.IsNaN(a.re) && math.IsNaN(b.re))
				}) {
					t.Errorf("%s[%s] summarize=%v: values differ", name, spec, summarize)
				}
			}
			var out strings.Builder
			if err := sel.writeRepr(&out); err != nil || !strings.HasSuffix(out.String(), "dtype="+info.DType.String()+")\n") {
				t.Errorf("%s[%s]: %v %q", name, spec, err, out.String())
			}
		}
	}
}

// pick returns the elements of all (row-major, of the given shape) a
// repr shows.
func pick(all []value, shape []uint64, summarize bool) []value {
	var out []value
	var walk func(axis int, base uint64)
	walk = func(axis int, base uint64) {
		if axis == len(shape) {
			out = append(out, all[base])
			return
		}
		stride := uint64(1)
		for _, d := range shape[axis+1:] {
			stride *= d
		}
		for _, i := range shownIndex(shape[axis], summarize) {
			walk(axis+1, base+i*stride)
		}
	}
	walk(0, 0)
	return out
}

func TestFormatFloats(t *testing.T) {
	tests := []struct {
		in   []float64
		want []string
	}{
		{[]float64{1, 2.5, -3}, []string{" 1. ", " 2.5", "-3. "}},
		{[]float64{0.1, 100}, []string{"  0.1", "100. "}},
		{[]float64{1e-5, 1.5}, []string{"1.0e-05", "1.5e+00"}},
		{[]float64{1e8, -2}, []string{" 1.e+08", "-2.e+00"}},
		{[]float64{1.0 / 3}, []string{"0.33333333"}},
		{[]float64{math.NaN(), math.Inf(-1), 1}, []string{" nan", "-inf", "  1."}},
		{[]float64{0, math.Copysign(0, -1)}, []string{" 0.", "-0."}},
	}
	for _, tc := range tests {
		if got := formatFloats(tc.in, false); !slices.Equal(got, tc.want) {
			t.Errorf("formatFloats(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if got := shortest(dtype.BF16, 1.0078125); got != 1.01 {
		t.Errorf("shortest BF16 1.0078125 = %v, want 1.01", got)
	}
	if got := shortest(dtype.F16, float64(dtype.F16ToFloat32(0x3c01))); got != 1.001 {
		t.Errorf("shortest F16 0x3c01 = %v, want 1.001", got)
	}
	if got := shortest(dtype.F32, float64(float32(0.1))); got != 0.1 {
		t.Errorf("shortest F32 0.1 = %v", got)
	}
}
