package loader

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/stload/stload/dtype"
)

// TestMappingLease: a lease keeps the mapping readable across Close, a
// release twice counts once, and the last release unmaps. Reading
// unmapped memory would crash the test, not fail it.
func TestMappingLease(t *testing.T) {
	path := filepath.Join(conformance, "valid", "many_tensors.safetensors")
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	a, releaseA, err := f.Mapping()
	if err != nil || a == nil {
		t.Skipf("not mapped on this platform: %v", err)
	}
	b, releaseB, _ := f.Mapping()
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.Mapping(); !errors.Is(err, fs.ErrClosed) {
		t.Errorf("Mapping after Close: %v", err)
	}
	if _, err := f.ReadAt(make([]byte, 1), 0); !errors.Is(err, fs.ErrClosed) {
		t.Errorf("ReadAt after Close: %v", err)
	}
	releaseA()
	releaseA() // must not count as B's release
	if !bytes.Equal(b, want) {
		t.Fatal("leased mapping differs from the file")
	}
	releaseB()
	if f.mapped != nil || f.users != 0 {
		t.Errorf("after the last release: mapped %v, %d users", f.mapped != nil, f.users)
	}
}

// TestMappingLeaseConcurrent takes leases and reads through them from
// many goroutines while another closes the file; run with -race. Every
// lease granted must stay readable until released.
func TestMappingLeaseConcurrent(t *testing.T) {
	path := filepath.Join(conformance, "valid", "big_tensor.safetensors")
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		f, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for {
					m, release, err := f.Mapping()
					if err != nil {
						if !errors.Is(err, fs.ErrClosed) {
							t.Error(err)
						}
						release()
						return
					}
					runtime.Gosched()
					if m != nil && !bytes.Equal(m, want) {
						t.Error("leased bytes differ")
					}
					release()
				}
			})
		}
		wg.Go(func() { runtime.Gosched(); f.Close() })
		wg.Wait()
		if f.mapped != nil || f.users != 0 {
			t.Fatalf("after Close and every release: mapped %v, %d users", f.mapped != nil, f.users)
		}
	}
}

// TestRunsMemory slices column 0 of a [50_000_000, 2] U8 tensor, 50
// million runs, and expects iterating them to allocate a small amount
// that does not grow with the row count. The file is sparse: the tensor's
// bytes are a hole, never read.
func TestRunsMemory(t *testing.T) {
	const rows = 50_000_000
	path := filepath.Join(t.TempDir(), "tall.safetensors")
	out, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewWriter(out, []Spec{{Name: "t", DType: dtype.U8, Shape: []uint64{rows, 2}}}, nil); err != nil {
		t.Fatal(err)
	}
	hdr, _ := out.Seek(0, 1)
	if err := out.Truncate(hdr + 2*rows); err != nil {
		t.Fatal(err)
	}
	out.Close()
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tensor, _ := f.Tensor("t")
	idx, _ := ParseSpec(":,0")
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	s, err := tensor.Slice(idx...)
	if err != nil {
		t.Fatal(err)
	}
	next := tensor.Offset()
	runs := 0
	for off, n := range s.Runs() {
		if off != next || n != 1 {
			t.Fatalf("run %d is (%d, %d), want (%d, 1)", runs, off, n, next)
		}
		next += 2
		runs++
	}
	runtime.ReadMemStats(&after)
	if runs != rows || s.NBytes != rows {
		t.Fatalf("%d runs, NBytes %d, want %d", runs, s.NBytes, rows)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 16<<10 {
		t.Errorf("slicing and iterating %d runs allocated %d bytes", rows, grew)
	}
}
