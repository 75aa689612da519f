package device

import (
	"crypto/sha256"
	"encoding/binary"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"unsafe"

	"github.com/stload/stload/dtype"
	"github.com/stload/stload/loader"
)

// spec declares a tensor of a test file.
type spec struct {
	name  string
	dt    dtype.DType
	shape []uint64
}

func sp(name string, dt dtype.DType, shape ...uint64) spec { return spec{name, dt, shape} }

// randomBytes returns n random bytes, none of them zero, so that no
// zero-page shortcut can make a wrong copy look right.
func randomBytes(r *rand.Rand, n int64) []byte {
	var seed [32]byte
	for i := range 4 {
		binary.LittleEndian.PutUint64(seed[8*i:], r.Uint64())
	}
	b := make([]byte, n)
	rand.NewChaCha8(seed).Read(b)
	for i, x := range b {
		if x == 0 {
			b[i] = 1
		}
	}
	return b
}

// floatBytes returns n random but finite values of a floating type, so
// conversions are exact to check; other types get random bytes.
func tensorBytes(r *rand.Rand, dt dtype.DType, n int64) []byte {
	b := randomBytes(r, n)
	switch dt {
	case dtype.BF16, dtype.F16:
		for i := 1; i < len(b); i += 2 {
			b[i] = 0x3c + b[i]&3 // exponent in range: finite values
		}
	case dtype.F32:
		for i := 3; i < len(b); i += 4 {
			b[i] = 0x3f
		}
	case dtype.BOOL:
		for i := range b {
			b[i] &= 1
		}
	}
	return b
}

// writeFile saves tensors of random bytes to a file in dir and opens it
// (with opts, e.g. loader.WithPread()).
func writeFile(t testing.TB, dir, name string, seed uint64, specs []spec, opts ...loader.Option) *loader.File {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 7))
	data := make(map[string]loader.Data, len(specs))
	for _, s := range specs {
		n := uint64(s.dt.Bits())
		for _, d := range s.shape {
			n *= d
		}
		data[s.name] = loader.Data{DType: s.dt, Shape: s.shape, Bytes: tensorBytes(r, s.dt, int64(n/8))}
	}
	path := filepath.Join(dir, name)
	if err := loader.SaveFile(path, data, nil); err != nil {
		t.Fatal(err)
	}
	f, err := loader.Open(path, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// expected returns the bytes a part should hold, computed independently of
// the plan: loader.Tensor.Slice for the part's range, then dtype.Convert.
func expected(t testing.TB, tn *Tensor) []byte {
	t.Helper()
	var idx []loader.Index
	if tn.Shards > 1 && tn.Dim >= 0 { // a shard; Dim -1 is a whole copy (Replicate)
		full, n, k := int64(tn.Source.Shape[tn.Dim]), int64(tn.Shards), int64(tn.Shard)
		start := k*(full/n) + min(k, full%n)
		for range tn.Dim {
			idx = append(idx, loader.Index{})
		}
		if tn.Shape[tn.Dim] == 0 {
			return nil
		}
		idx = append(idx, loader.Range(start, start+int64(tn.Shape[tn.Dim])))
	}
	sl, err := tn.Source.Slice(idx...)
	if err != nil {
		t.Fatalf("%s: %v", tn.label(), err)
	}
	b, err := sl.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	if tn.Source.DType == tn.DType {
		return b
	}
	size, err := dtype.ConvertedSize(int64(len(b)), tn.Source.DType, tn.DType)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]byte, size)
	if _, err := dtype.Convert(out, tn.DType, b, tn.Source.DType); err != nil {
		t.Fatal(err)
	}
	return out
}

// actual returns a part's bytes as they are on its (simulated) device.
func actual(tn *Tensor) []byte {
	if tn.Memory == nil {
		return tn.data
	}
	m := tn.Memory.(*simMem)
	return m.buf[tn.Offset : tn.Offset+tn.Len]
}

// checkSet proves that every tensor and shard holds the right bytes
// (sha256 against the file) and that set has every tensor of files.
func checkSet(t testing.TB, set *Set, files ...*loader.File) {
	t.Helper()
	want := 0
	for _, f := range files {
		for name, info := range f.Tensors() {
			parts := set.Parts(name)
			if len(parts) == 0 {
				t.Errorf("tensor %s missing", name)
			}
			for _, p := range parts {
				if p.Source.Offset() != info.Offset() {
					t.Errorf("%s: wrong source", p.label())
				}
			}
			want++
		}
	}
	got := 0
	for tn := range set.All() {
		e, a := sha256.Sum256(expected(t, tn)), sha256.Sum256(actual(tn))
		if e != a {
			t.Errorf("%s: bytes differ from the file (%d bytes)", tn.label(), tn.Len)
		}
		if int64(len(actual(tn))) != tn.Len {
			t.Errorf("%s: %d bytes, want %d", tn.label(), len(actual(tn)), tn.Len)
		}
		if tn.Shard == 0 {
			got++
		}
	}
	if got != want {
		t.Errorf("set has %d tensors, files %d", got, want)
	}
	if err := set.Verify(t.Context()); err != nil {
		t.Errorf("Verify: %v", err)
	}
}

// inside reports whether b lies inside m.
func inside(b, m []byte) bool {
	if len(b) == 0 || len(m) == 0 {
		return false
	}
	p := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	q := uintptr(unsafe.Pointer(unsafe.SliceData(m)))
	return p >= q && p+uintptr(len(b)) <= q+uintptr(len(m))
}

// mappingOf returns f's mapping, nil when f is not mapped; it stays valid
// while f is open.
func mappingOf(f *loader.File) []byte {
	m, release, _ := f.Mapping()
	release()
	return m
}

// tensorCount returns the number of tensors of f.
func tensorCount(f *loader.File) int {
	n := 0
	for range f.Tensors() {
		n++
	}
	return n
}

// dataOffset returns where f's data section starts.
func dataOffset(f *loader.File) int64 { return 8 + f.HeaderSize() }
