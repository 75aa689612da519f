package device_test

import (
	"crypto/sha256"
	"fmt"
	"testing"
	"time"
	"unsafe"

	"github.com/stload/stload/device"
	"github.com/stload/stload/device/devicetest"
	"github.com/stload/stload/dtype"
	"github.com/stload/stload/loader"
)

// Test files and their writers come from export_test.go.
type spec = device.Spec

var (
	sp        = device.Sp
	writeFile = device.WriteFile
	layered   = device.Layered
	mixed     = device.Mixed
	coldSpecs = device.ColdSpecs
)

// install registers a simulated backend of count devices of memory bytes
// each, whose copies land after up to delay, for the test.
func install(t testing.TB, count int, memory int64, delay time.Duration) *devicetest.Backend {
	t.Helper()
	return devicetest.Install(t, devicetest.Options{GPUs: count, Memory: memory, Delay: delay})
}

// load loads src with opts and closes the Set at the end of the test.
func load(t *testing.T, files []*loader.File, opts ...device.Option) *device.Set {
	t.Helper()
	set, err := device.Load(t.Context(), device.Files(files...), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := set.Close(); err != nil {
			t.Error(err)
		}
	})
	return set
}

// label names a tensor or shard for messages.
func label(tn *device.Tensor) string {
	return fmt.Sprintf("%s[%d/%d]@%s", tn.Name, tn.Shard, tn.Shards, tn.Device)
}

// expected returns the bytes a part should hold, computed independently of
// the plan: loader.Tensor.Slice for the part's range, then dtype.Convert.
func expected(t testing.TB, tn *device.Tensor) []byte {
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
		t.Fatalf("%s: %v", label(tn), err)
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
func actual(t testing.TB, tn *device.Tensor) []byte {
	if tn.Memory == nil {
		return tn.Bytes()
	}
	b, _ := device.LookupBackend(tn.Device.Backend)
	sim, ok := b.(*devicetest.Backend)
	if !ok {
		t.Fatalf("%s: not on a simulated device", label(tn))
	}
	return sim.Bytes(tn.Memory)[tn.Offset : tn.Offset+tn.Len]
}

// checkSet proves that every tensor and shard holds the right bytes
// (sha256 against the file) and that set has every tensor of files.
func checkSet(t testing.TB, set *device.Set, files ...*loader.File) {
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
					t.Errorf("%s: wrong source", label(p))
				}
			}
			want++
		}
	}
	got := 0
	for tn := range set.All() {
		a := actual(t, tn)
		if sha256.Sum256(expected(t, tn)) != sha256.Sum256(a) {
			t.Errorf("%s: bytes differ from the file (%d bytes)", label(tn), tn.Len)
		}
		if int64(len(a)) != tn.Len {
			t.Errorf("%s: %d bytes, want %d", label(tn), len(a), tn.Len)
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
