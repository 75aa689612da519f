package loader

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/stload/stload/dtype"
)

// maxAmplification is the documented bound: opening a file allocates at
// most this many times its header's size, whatever the header holds.
const maxAmplification = 8

// headerKinds builds headers of about size bytes that stress what Open
// allocates per header byte: a checkpoint's many small tensors, written by
// the Writer, and hostile headers that pack the most tensors, dimensions,
// metadata keys or duplicate names into each byte.
var headerKinds = []struct {
	name  string
	build func(tb testing.TB, size int) []byte
}{
	{"checkpoint", checkpointFile},
	{"array entries", func(tb testing.TB, size int) []byte {
		return rawFile(size, func(i int) string { return fmt.Sprintf(`"%s":["U8",[0],[0,0]]`, strconv.FormatInt(int64(i), 36)) })
	}},
	{"object entries", func(tb testing.TB, size int) []byte {
		return rawFile(size, func(i int) string {
			return fmt.Sprintf(`"%s":{"dtype":"U8","shape":[0],"data_offsets":[0,0]}`, strconv.FormatInt(int64(i), 36))
		})
	}},
	{"duplicates", func(tb testing.TB, size int) []byte {
		return rawFile(size, func(int) string { return `"":["U8",[0],[0,0]]` })
	}},
	{"long shape", func(tb testing.TB, size int) []byte {
		dims := strings.Repeat("1,", size/2)
		return withHeader(`{"t":{"dtype":"U8","shape":[`+dims+`1],"data_offsets":[0,1]}}`, 1)
	}},
	{"many shapes", func(tb testing.TB, size int) []byte {
		return rawFile(size, func(i int) string {
			return fmt.Sprintf(`"%s":["U8",[0,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1],[0,0]]`, strconv.FormatInt(int64(i), 36))
		})
	}},
	{"metadata", func(tb testing.TB, size int) []byte {
		var b strings.Builder
		b.WriteString(`{"__metadata__":{`)
		for i := 0; b.Len() < size; i++ {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `"%s":""`, strconv.FormatInt(int64(i), 36))
		}
		b.WriteString("}}")
		return withHeader(b.String(), 0)
	}},
}

// checkpointFile writes, with the Writer, a checkpoint of small BF16
// tensors whose header is about size bytes: 1M+ tensors for 100 MB.
func checkpointFile(tb testing.TB, size int) []byte {
	parts := []string{"q", "k", "v", "o", "gate", "up", "down", "in_norm", "post_norm", "w1"}
	specs := make([]Spec, size/84)
	for i := range specs {
		specs[i] = Spec{Name: fmt.Sprintf("layers.%d.%s", i/len(parts), parts[i%len(parts)]), DType: dtype.BF16, Shape: []uint64{2, 4}}
	}
	var buf bytes.Buffer
	w, err := NewWriter(&buf, specs, map[string]string{"format": "pt"})
	if err != nil {
		tb.Fatal(err)
	}
	w.Write(make([]byte, 16*len(specs)))
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// rawFile returns a file whose header is entries made by entry until it
// reaches size bytes; the tensors hold no data.
func rawFile(size int, entry func(i int) string) []byte {
	var b strings.Builder
	b.Grow(size + 64)
	b.WriteByte('{')
	for i := 0; b.Len() < size; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(entry(i))
	}
	b.WriteByte('}')
	return withHeader(b.String(), 0)
}

// withHeader returns a file of the given header and data bytes of zeros.
func withHeader(hdr string, data int) []byte {
	out := make([]byte, 8, 8+len(hdr)+data)
	binary.LittleEndian.PutUint64(out, uint64(len(hdr)))
	out = append(out, hdr...)
	return append(out, make([]byte, data)...)
}

// openAllocs opens data through the mapping and through a reader and
// returns the bytes each allocated, an upper bound on the peak memory
// opening takes, and the header's size.
func openAllocs(tb testing.TB, data []byte) (mapped, read uint64, hdr int64) {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "h.safetensors")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		tb.Fatal(err)
	}
	measure := func(open func() (*File, error)) uint64 {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		f, err := open()
		runtime.ReadMemStats(&after)
		if err != nil {
			tb.Fatal(err)
		}
		hdr = f.HeaderSize()
		f.Close()
		return after.TotalAlloc - before.TotalAlloc
	}
	mapped = measure(func() (*File, error) { return Open(path, WithLenient()) })
	read = measure(func() (*File, error) { return NewReader(bytes.NewReader(data), int64(len(data)), WithLenient()) })
	return mapped, read, hdr
}

// TestOpenMemory opens 10 MB headers of every kind and checks that Open
// allocates less than maxAmplification times the header, through the
// mapping and through a reader. BenchmarkOpenHugeHeader measures the
// same at 100 MB.
func TestOpenMemory(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("builds and parses 10 MB headers")
	}
	for _, kind := range headerKinds {
		mapped, read, hdr := openAllocs(t, kind.build(t, 10_000_000))
		t.Logf("%-14s header %d bytes: Open allocates %.2fx, NewReader %.2fx", kind.name, hdr, float64(mapped)/float64(hdr), float64(read)/float64(hdr))
		if worst := max(mapped, read); worst > maxAmplification*uint64(hdr) {
			t.Errorf("%s: opening a %d-byte header allocated %d bytes, %.1fx", kind.name, hdr, worst, float64(worst)/float64(hdr))
		}
	}
}

// TestFileMemory checks what an open File keeps of a checkpoint's header
// (tensors of short names, as a Writer writes them): its tensors and
// their names, not the header, which was 2× its size.
func TestFileMemory(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("parses a 10 MB header")
	}
	data := checkpointFile(t, 10_000_000)
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f, err := NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	kept := float64(after.HeapAlloc-before.HeapAlloc) / float64(f.HeaderSize())
	t.Logf("a File of %d tensors keeps %.2fx its %d-byte header", count(f), kept, f.HeaderSize())
	if kept > 1.6 {
		t.Errorf("a File keeps %.2fx its header, want at most 1.6", kept)
	}
	runtime.KeepAlive(f)
}

// BenchmarkOpenHugeHeader opens a file with a header of about 100 MB of
// each kind once and reports the bytes allocated per header byte
// (x-header: the bound on peak memory), what the open File keeps
// (kept-x-header) and the time per tensor.
func BenchmarkOpenHugeHeader(b *testing.B) {
	for _, kind := range headerKinds {
		b.Run(kind.name, func(b *testing.B) {
			data := kind.build(b, 99_000_000)
			f, err := NewReader(bytes.NewReader(data), int64(len(data)), WithLenient())
			if err != nil {
				b.Fatal(err)
			}
			n := max(count(f), 1)
			f = nil
			for b.Loop() {
				mapped, read, hdr := openAllocs(b, data)
				b.ReportMetric(float64(mapped)/float64(hdr), "x-header-mmap")
				b.ReportMetric(float64(read)/float64(hdr), "x-header-reader")
			}
			b.ReportMetric(float64(n), "tensors")
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			f, _ = NewReader(bytes.NewReader(data), int64(len(data)), WithLenient())
			runtime.GC()
			runtime.ReadMemStats(&after)
			b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(f.HeaderSize()), "kept-x-header")
			runtime.KeepAlive(f)
		})
	}
}
