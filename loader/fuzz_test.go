package loader

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// maxSeed bounds the seed files: the fuzzer minimises each new input by
// rerunning it thousands of times, which takes minutes for the larger files.
const maxSeed = 16 << 10

// seedFiles adds every conformance file to the fuzzer's seed corpus. The
// inputs kept under testdata/fuzz/<target>/ (earlier findings, and inputs
// that reached new code) are added by go test itself.
func seedFiles(f *testing.F, args func(file []byte) []any) {
	for _, dir := range []string{"valid", "invalid"} {
		paths, _ := filepath.Glob(filepath.Join(conformance, dir, "*.safetensors"))
		for _, p := range paths {
			b, err := os.ReadFile(p)
			if err != nil {
				f.Fatal(err)
			}
			if len(b) > maxSeed {
				continue // mutating megabytes makes each run slow, not more interesting
			}
			f.Add(args(b)...)
		}
	}
}

// FuzzHeader feeds arbitrary bytes to the JSON header parser. Whatever it
// accepts must be valid JSON, and its errors must be typed.
func FuzzHeader(f *testing.F) {
	seedFiles(f, func(b []byte) []any {
		if len(b) < 8 {
			return []any{b}
		}
		n := min(int(b[0])|int(b[1])<<8|int(b[2])<<16, len(b)-8)
		return []any{b[8 : 8+n]}
	})
	f.Fuzz(func(t *testing.T, hdr []byte) {
		h, err := parseHeader(hdr, false, nil)
		g := &parser{b: hdr, s: string(hdr), general: true}
		if gerr := g.parse(); !sameParse(h, err, &g.h, gerr) {
			t.Fatalf("the fast path and the general parser disagree:\n%v %v\n%v %v", err, h, gerr, g.h)
		}
		if err != nil {
			if !errors.Is(err, ErrInvalidHeaderDeserialization) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if !json.Valid(hdr) {
			t.Fatalf("accepted invalid JSON %q", hdr)
		}
		for i, tensor := range h.tensors {
			if j, ok := h.index.Find(tensor.Name, h.tensorName); !ok || j != i {
				t.Fatalf("index finds tensor %d, %q, at %d (%v)", i, tensor.Name, j, ok)
			}
		}
	})
}

// sameParse reports whether two parses of a header agree.
func sameParse(a *header, aerr *Error, b *header, berr *Error) bool {
	if aerr != nil || berr != nil {
		return aerr != nil && berr != nil && aerr.Error() == berr.Error()
	}
	return reflect.DeepEqual(a.tensors, b.tensors) && reflect.DeepEqual(a.meta, b.meta) && reflect.DeepEqual(a.strict, b.strict)
}

// FuzzOpen opens arbitrary bytes through both byte sources. They must agree
// on the verdict and the tensors; a valid file's tensors must be readable,
// and saving them again must give a file that opens to the same tensors.
func FuzzOpen(f *testing.F) {
	seedFiles(f, func(b []byte) []any { return []any{b} })
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		viaReader, rerr := NewReader(bytes.NewReader(data), int64(len(data)))
		path := filepath.Join(dir, "f.safetensors")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		viaMap, merr := Open(path)
		if (rerr == nil) != (merr == nil) || Kind(rerr) != Kind(merr) {
			t.Fatalf("readerat: %v; mmap: %v", rerr, merr)
		}
		if rerr != nil {
			if Kind(rerr) == "" {
				t.Fatalf("untyped error %v", rerr)
			}
			return
		}
		defer viaMap.Close()
		a, b := snapshot(t, viaReader), snapshot(t, viaMap)
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("readerat and mmap disagree")
		}
		var buf bytes.Buffer
		if err := save(&buf, a.tensors, a.meta); err != nil {
			t.Fatalf("re-save: %v", err)
		}
		again, err := NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
		if err != nil {
			t.Fatalf("reopen: %v", err)
		}
		if c := snapshot(t, again); !reflect.DeepEqual(a.tensors, c.tensors) || !reflect.DeepEqual(a.meta, c.meta) {
			t.Fatalf("round trip changed the tensors")
		}
	})
}

type fileSnapshot struct {
	tensors map[string]Data
	meta    map[string]string
	order   []string
}

func snapshot(t *testing.T, f *File) fileSnapshot {
	t.Helper()
	s := fileSnapshot{tensors: map[string]Data{}, meta: f.Metadata()}
	for name, info := range f.Tensors() {
		b := tensorBytes(t, f, name)
		if int64(len(b)) != (info.End - info.Begin) {
			t.Fatalf("tensor %q: %d bytes, want %d", name, len(b), info.End-info.Begin)
		}
		s.tensors[name] = Data{DType: info.DType, Shape: info.Shape, Bytes: bytes.Clone(b)}
		s.order = append(s.order, name)
	}
	return s
}

// FuzzSlice slices the tensors of arbitrary files with arbitrary specs and
// compares the result with an element-by-element gather.
func FuzzSlice(f *testing.F) {
	for _, spec := range []string{"", "0", "1:3", ":,1", "-1", "::2", "1:,:2", "0,0,0"} {
		seedFiles(f, func(b []byte) []any { return []any{b, spec} })
	}
	f.Fuzz(func(t *testing.T, data []byte, spec string) {
		file, err := NewReader(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return
		}
		idx, err := ParseSpec(spec)
		if err != nil {
			if !errors.Is(err, ErrInvalidSlice) {
				t.Fatalf("untyped spec error %v", err)
			}
			return
		}
		for name, info := range file.Tensors() {
			s, err := sliceOf(file, name, idx...)
			if err != nil {
				if Kind(err) == "" {
					t.Fatalf("untyped slice error %v", err)
				}
				continue
			}
			got, err := s.Bytes()
			if err != nil {
				t.Fatal(err)
			}
			checkRuns(t, info, s)
			checkSlice(t, file, info, idx, s, got)
		}
	})
}

// checkRuns checks that a slice's runs lie in its tensor, in increasing
// order, merged when adjacent, and add up to NBytes.
func checkRuns(t *testing.T, info Tensor, s *Slice) {
	t.Helper()
	var total int64
	end := int64(-1) // where the previous run ended
	for off, n := range s.Runs() {
		if n <= 0 || off < info.Offset() || off+n > info.Offset()+(info.End-info.Begin) || off <= end {
			t.Fatalf("tensor %q: run (%d, %d) after one ending at %d, tensor at [%d, %d)", info.Name, off, n, end, info.Offset(), info.Offset()+(info.End-info.Begin))
		}
		total, end = total+n, off+n
	}
	if total != s.NBytes {
		t.Fatalf("tensor %q: runs hold %d bytes, NBytes %d", info.Name, total, s.NBytes)
	}
}

// checkSlice compares a slice of a byte-aligned tensor with a naive
// element-by-element gather.
func checkSlice(t *testing.T, f *File, info Tensor, idx []Index, s *Slice, got []byte) {
	t.Helper()
	es := info.DType.Bits() / 8
	if info.DType.Bits()%8 != 0 || info.NumElements() > 1<<12 {
		return
	}
	want := gather(info.Shape, idx, tensorBytes(t, f, info.Name), es)
	if !bytes.Equal(got, want) {
		t.Fatalf("tensor %q %v spec %v: got %d bytes, want %d", info.Name, info.Shape, idx, len(got), len(want))
	}
	if int64(len(got)) != s.NBytes {
		t.Fatalf("NBytes %d, gathered %d", s.NBytes, len(got))
	}
}

// gather is the reference model of slicing: visit every element in
// row-major order and keep those the indexes select.
func gather(shape []uint64, idx []Index, src []byte, es int) []byte {
	var out []byte
	pos := make([]uint64, len(shape))
	n := uint64(1)
	for _, d := range shape {
		n *= d
	}
	for flat := uint64(0); flat < n; flat++ {
		rem := flat
		for i := len(shape) - 1; i >= 0; i-- {
			pos[i] = rem % shape[i]
			rem /= shape[i]
		}
		if selected(pos, shape, idx) {
			out = append(out, src[flat*uint64(es):(flat+1)*uint64(es)]...)
		}
	}
	return out
}

func selected(pos, shape []uint64, idx []Index) bool {
	for i, ix := range idx {
		n := int64(shape[i])
		abs := func(v int64) int64 {
			if v < 0 {
				return v + n
			}
			return v
		}
		p := int64(pos[i])
		if ix.single {
			if p != abs(ix.start) {
				return false
			}
			continue
		}
		start, stop, step := int64(0), n, max(ix.step, 1)
		if ix.hasStart {
			start = abs(ix.start)
		}
		if ix.hasStop {
			stop = abs(ix.stop)
		}
		if p < start || p >= stop || (p-start)%step != 0 {
			return false
		}
	}
	return true
}
