package loader

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/stload/stload/dtype"
)

var update = flag.Bool("update", false, "rewrite golden files")

// randomTensors returns n tensors of random types, shapes and bytes.
func randomTensors(r *rand.Rand, n int) map[string]Data {
	types := dtype.All()
	out := make(map[string]Data, n)
	for i := range n {
		dt := types[r.IntN(len(types))]
		var shape []uint64
		for range r.IntN(4) {
			shape = append(shape, uint64(r.IntN(5)))
		}
		if dt.Bits()%8 != 0 { // sub-byte types need whole bytes: make the count a multiple of 8
			shape = append(shape, 8)
		}
		size, err := byteSize(dt, shape)
		if err != nil {
			panic(err)
		}
		b := make([]byte, size)
		for j := range b {
			b[j] = byte(r.Uint32())
		}
		out[fmt.Sprintf("t%d.%s", i, dt)] = Data{DType: dt, Shape: shape, Bytes: b}
	}
	return out
}

// TestSaveOpenRoundTrip is the property test: random tensors saved and
// opened again through both byte sources give back the same bytes, and
// Save, SaveFile and the streaming Writer (fed in odd chunks) agree.
func TestSaveOpenRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	for trial := range 50 {
		tensors := randomTensors(r, r.IntN(12))
		var meta map[string]string
		if trial%2 == 0 {
			meta = map[string]string{"trial": fmt.Sprint(trial), "quote\"": "new\nline"}
		}
		var buf bytes.Buffer
		if err := save(&buf, tensors, meta); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "rt.safetensors")
		if err := SaveFile(path, tensors, meta); err != nil {
			t.Fatal(err)
		}
		onDisk, _ := os.ReadFile(path)
		if !bytes.Equal(onDisk, buf.Bytes()) {
			t.Fatalf("SaveFile and Save differ")
		}
		if got := streamInChunks(t, tensors, meta, r); !bytes.Equal(got, buf.Bytes()) {
			t.Fatalf("streaming Writer and Save differ")
		}
		for _, mode := range openModes {
			f, err := mode.open(t, path)
			if err != nil {
				t.Fatalf("%s: %v", mode.name, err)
			}
			s := snapshot(t, f)
			f.Close()
			if !sameTensors(s.tensors, tensors) || !reflect.DeepEqual(s.meta, meta) {
				t.Fatalf("%s: round trip changed the tensors", mode.name)
			}
		}
	}
}

func sameTensors(a, b map[string]Data) bool {
	if len(a) != len(b) {
		return false
	}
	for name, x := range a {
		y := b[name]
		if x.DType != y.DType || !bytes.Equal(x.Bytes, y.Bytes) || len(x.Shape) != len(y.Shape) {
			return false
		}
		for i := range x.Shape {
			if x.Shape[i] != y.Shape[i] {
				return false
			}
		}
	}
	return true
}

// streamInChunks writes the tensors with NewWriter, concatenating their
// bytes in write order and feeding them in random-sized pieces that cross
// tensor boundaries.
func streamInChunks(t *testing.T, tensors map[string]Data, meta map[string]string, r *rand.Rand) []byte {
	var specs []Spec
	for name, d := range tensors {
		specs = append(specs, Spec{Name: name, DType: d.DType, Shape: d.Shape})
	}
	var out bytes.Buffer
	w, err := NewWriter(&out, specs, meta)
	if err != nil {
		t.Fatal(err)
	}
	var data []byte
	for _, s := range w.Tensors() {
		data = append(data, tensors[s.Name].Bytes...)
	}
	for len(data) > 0 {
		k := min(len(data), 1+r.IntN(7))
		if _, err := w.Write(data[:k]); err != nil {
			t.Fatal(err)
		}
		data = data[k:]
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func TestWriterErrors(t *testing.T) {
	four := []byte{1, 2, 3, 4}
	tests := []struct {
		name    string
		tensors map[string]Data
		meta    map[string]string
		want    error
	}{
		{"reserved name", map[string]Data{"__metadata__": {DType: dtype.U8, Shape: []uint64{4}, Bytes: four}}, nil, ErrTensorInvalidInfo},
		{"short bytes", map[string]Data{"a": {DType: dtype.F32, Shape: []uint64{2}, Bytes: four}}, nil, ErrTensorInvalidInfo},
		{"odd F4 count", map[string]Data{"a": {DType: dtype.F4, Shape: []uint64{3}, Bytes: four[:2]}}, nil, ErrMisalignedSlice},
		{"invalid dtype", map[string]Data{"a": {DType: dtype.Invalid, Shape: []uint64{4}, Bytes: four}}, nil, ErrTensorInvalidInfo},
		{"name not UTF-8", map[string]Data{"\xff": {DType: dtype.U8, Shape: []uint64{4}, Bytes: four}}, nil, ErrInvalidHeader},
		{"metadata not UTF-8", nil, map[string]string{"k": "\xfe"}, ErrInvalidHeader},
		{"overflow", map[string]Data{"a": {DType: dtype.U8, Shape: []uint64{1 << 40, 1 << 40}}}, nil, ErrValidationOverflow},
		{"header too large", nil, map[string]string{"k": strings.Repeat("a", defaultMaxHeaderSize)}, ErrHeaderTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := save(io.Discard, tt.tensors, tt.meta)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			dir := t.TempDir()
			path := filepath.Join(dir, "out.safetensors")
			os.WriteFile(path, []byte("keep me"), 0o644)
			if err := SaveFile(path, tt.tensors, tt.meta); !errors.Is(err, tt.want) {
				t.Fatalf("SaveFile: got %v, want %v", err, tt.want)
			}
			assertUntouched(t, dir, path, "keep me")
		})
	}
	t.Run("duplicate spec", func(t *testing.T) {
		specs := []Spec{{Name: "a", DType: dtype.U8}, {Name: "a", DType: dtype.F32}}
		if _, err := NewWriter(io.Discard, specs, nil); !errors.Is(err, ErrDuplicateKey) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("write past end and short close", func(t *testing.T) {
		w, err := NewWriter(io.Discard, []Spec{{Name: "a", DType: dtype.U8, Shape: []uint64{2}}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte{1}); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); !errors.Is(err, ErrTensorInvalidInfo) {
			t.Fatalf("short close: %v", err)
		}
		if _, err := w.Write([]byte{2, 3}); !errors.Is(err, ErrTensorInvalidInfo) {
			t.Fatalf("write past end: %v", err)
		}
	})
}

// assertUntouched checks that path still holds want and that no temporary
// file was left in dir.
func assertUntouched(t *testing.T, dir, path, want string) {
	t.Helper()
	if b, _ := os.ReadFile(path); string(b) != want {
		t.Fatalf("existing file changed to %q", b)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("left behind: %v", entries)
	}
}

// TestSaveOverMappedSource saves, over the file it came from, tensors whose
// bytes point into that file's mapping: the rename must leave the mapping
// intact while the new file is written (the reference's #762).
func TestSaveOverMappedSource(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.safetensors")
	r := rand.New(rand.NewPCG(1, 1))
	orig := randomTensors(r, 8)
	if err := SaveFile(path, orig, nil); err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	views := snapshotViews(t, f)
	views["extra"] = Data{DType: dtype.U8, Shape: []uint64{3}, Bytes: []byte{9, 8, 7}}
	if err := SaveFile(path, views, map[string]string{"v": "2"}); err != nil {
		t.Fatal(err)
	}
	g, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	got := snapshot(t, g)
	orig["extra"] = views["extra"]
	if !sameTensors(got.tensors, orig) {
		t.Fatal("saved file differs from the source tensors")
	}
	if !sameTensors(snapshot(t, f).tensors, snapshotViews(t, f)) {
		t.Fatal("the old mapping changed under its reader")
	}
}

// snapshotViews returns the file's tensors as zero-copy views (for a
// mapped file; copies otherwise).
func snapshotViews(t *testing.T, f *File) map[string]Data {
	t.Helper()
	out := map[string]Data{}
	for name, info := range f.Tensors() {
		out[name] = Data{DType: info.DType, Shape: info.Shape, Bytes: tensorBytes(t, f, name)}
	}
	return out
}

// TestCreateFileIncomplete closes Writers from CreateFile that lack bytes
// (the way to abandon a write) or had a write fail: Close must fail, say
// so, and leave the target and its directory as they were.
func TestCreateFileIncomplete(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.safetensors")
	os.WriteFile(path, []byte("old"), 0o600)
	spec := []Spec{{Name: "x", DType: dtype.U8, Shape: []uint64{4}}, {Name: "y", DType: dtype.U8, Shape: []uint64{0}}}
	for _, written := range [][]byte{nil, {1, 2}, {1, 2, 3}} {
		w, err := CreateFile(path, spec, nil)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(written)
		err = w.Close()
		var e *Error
		if !errors.Is(err, ErrTensorInvalidInfo) || !errors.As(err, &e) || e.File != path || e.Tensor != "x" {
			t.Fatalf("close after %d of 4 bytes: %v", len(written), err)
		}
		if again := w.Close(); again != err {
			t.Errorf("second Close: %v, want %v", again, err)
		}
		assertUntouched(t, dir, path, "old")
	}
	w, _ := CreateFile(path, spec, nil)
	if _, err := w.Write([]byte{1, 2, 3, 4, 5}); !errors.Is(err, ErrTensorInvalidInfo) {
		t.Fatalf("write past the end: %v", err)
	}
	if err := w.Close(); !errors.Is(err, ErrTensorInvalidInfo) {
		t.Fatalf("close after a failed write: %v", err)
	}
	assertUntouched(t, dir, path, "old")
	w, _ = CreateFile(path, spec, nil)
	w.Write([]byte{1, 2, 3, 4})
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close of a committed file: %v", err)
	}
	if _, err := w.Write([]byte{1}); !errors.Is(err, fs.ErrClosed) {
		t.Errorf("write after Close: %v", err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want the replaced file's 0600", fi.Mode().Perm())
	}
}

func TestClose(t *testing.T) {
	for _, mode := range openModes {
		f, err := mode.open(t, filepath.Join(conformance, "valid", "tiny_transformer.safetensors"))
		if err != nil {
			t.Fatal(err)
		}
		var name string
		for name = range f.Tensors() {
			break
		}
		tensor, _ := f.Tensor(name)
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatalf("%s: second Close: %v", mode.name, err)
		}
		if _, err := f.Tensor(name); !errors.Is(err, fs.ErrClosed) || Kind(err) != "Closed" {
			t.Errorf("%s: Tensor after Close: %v", mode.name, err)
		}
		if _, err := tensor.Bytes(); mode.name == "mmap" && err == nil {
			t.Errorf("%s: Bytes after Close succeeded", mode.name)
		}
		if _, err := f.ReadAt(make([]byte, 4), 0); !errors.Is(err, fs.ErrClosed) {
			t.Errorf("%s: ReadAt after Close: %v", mode.name, err)
		}
		if m, release, err := f.Mapping(); m != nil || release == nil || !errors.Is(err, fs.ErrClosed) {
			t.Errorf("%s: Mapping after Close: %v", mode.name, err)
		}
	}
}

// TestTensorAt checks that Len, TensorAt and Index agree with Tensors and
// Tensor, and that, reading only the header, they work after Close.
func TestTensorAt(t *testing.T) {
	for _, mode := range openModes {
		f, err := mode.open(t, filepath.Join(conformance, "valid", "tiny_transformer.safetensors"))
		if err != nil {
			t.Fatal(err)
		}
		var want []Tensor
		for _, tn := range f.Tensors() {
			want = append(want, tn)
		}
		f.Close()
		if f.Len() != len(want) || len(want) == 0 {
			t.Fatalf("%s: Len %d, Tensors %d", mode.name, f.Len(), len(want))
		}
		for i, w := range want {
			if got := f.TensorAt(i); !reflect.DeepEqual(got, w) {
				t.Errorf("%s: TensorAt(%d) = %+v, want %+v", mode.name, i, got, w)
			}
			if j, ok := f.position(w.Name); !ok || j != i {
				t.Errorf("%s: Index(%q) = %d, %v; want %d", mode.name, w.Name, j, ok, i)
			}
		}
		if _, ok := f.position("no such tensor"); ok {
			t.Errorf("%s: Index found a missing name", mode.name)
		}
	}
}

// TestConcurrentReaders reads and slices every tensor from many goroutines
// while another closes the file; run with -race.
func TestConcurrentReaders(t *testing.T) {
	f, err := Open(filepath.Join(conformance, "valid", "many_tensors.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	want := snapshot(t, f)
	var longest int64
	for _, info := range f.Tensors() {
		longest = max(longest, info.End-info.Begin)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			buf := make([]byte, 0, longest)
			for name, info := range f.Tensors() {
				buf = buf[:(info.End - info.Begin)]
				tensor, err := f.Tensor(name)
				if err != nil {
					return // closed
				}
				if _, err := f.ReadAt(buf, tensor.Offset()); err != nil {
					if !errors.Is(err, fs.ErrClosed) {
						t.Error(err)
					}
					return
				}
				if !bytes.Equal(buf, want.tensors[name].Bytes) {
					t.Errorf("goroutine %d: tensor %q differs", g, name)
				}
				if len(info.Shape) > 0 {
					if s, err := sliceOf(f, name, Index{}); err == nil {
						s.Bytes()
					}
				}
			}
		})
	}
	wg.Go(func() { runtime.Gosched(); f.Close() })
	wg.Wait()
}

// TestHeaderNotPreallocated declares a header close to the cap over a
// reader that fails early: the parser must not allocate the declared size.
func TestHeaderNotPreallocated(t *testing.T) {
	prefix := []byte{0x00, 0xe1, 0xf5, 0x05, 0, 0, 0, 0} // 100,000,000
	r := failingReader{prefix: prefix}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := NewReader(r, 1<<40)
	runtime.ReadMemStats(&after)
	if Kind(err) != "IoError" {
		t.Fatalf("got %v, want an I/O error", err)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 8<<20 {
		t.Fatalf("allocated %d bytes for a header that never arrived", grew)
	}
}

type failingReader struct{ prefix []byte }

func (r failingReader) ReadAt(p []byte, off int64) (int, error) {
	if off == 0 {
		return copy(p, r.prefix), nil
	}
	return 0, errors.New("disk on fire")
}

func TestSliceRanges(t *testing.T) {
	// F32 [2,3] and [1,2,3] examples from the reference's documentation.
	tests := []struct {
		shape []uint64
		spec  string
		want  []run // relative to the tensor start
		shp   []uint64
	}{
		{[]uint64{2, 3}, ":,1:3", []run{{4, 8}, {16, 8}}, []uint64{2, 2}},
		{[]uint64{2, 3}, "1,1:3", []run{{16, 8}}, []uint64{2}},
		{[]uint64{2, 3}, "0,1:3", []run{{4, 8}}, []uint64{2}},
		{[]uint64{2, 3}, "1:2,0", []run{{12, 4}}, []uint64{1}},
		{[]uint64{1, 2, 3}, ":,:,0:1", []run{{0, 4}, {12, 4}}, []uint64{1, 2, 1}},
		{[]uint64{1, 2, 3}, ":,1:2,0:1", []run{{12, 4}}, []uint64{1, 1, 1}},
		{[]uint64{4, 3}, "1:3", []run{{12, 24}}, []uint64{2, 3}}, // whole rows merge
		{[]uint64{4, 3}, "-1", []run{{36, 12}}, []uint64{3}},
		{[]uint64{4, 3}, "::2", []run{{0, 12}, {24, 12}}, []uint64{2, 3}},
		{[]uint64{4, 3}, ":,::2", []run{{0, 4}, {8, 8}, {20, 8}, {32, 8}, {44, 4}}, []uint64{4, 2}}, // neighbours merge
		{[]uint64{4, 3}, "-3:-1,-2:", []run{{16, 8}, {28, 8}}, []uint64{2, 2}},
		{[]uint64{4, 3}, "1:1", nil, []uint64{0, 3}},
		{[]uint64{4, 3}, "", []run{{0, 48}}, []uint64{4, 3}},
	}
	for _, tt := range tests {
		n := uint64(4)
		for _, d := range tt.shape {
			n *= d
		}
		info := Tensor{Name: "t", DType: dtype.F32, Shape: tt.shape, End: int64(n)}
		idx, err := ParseSpec(tt.spec)
		if err != nil {
			t.Fatal(err)
		}
		s, perr := plan(info, idx)
		if perr != nil {
			t.Fatalf("%v %q: %v", tt.shape, tt.spec, perr)
		}
		var total int64
		for _, r := range tt.want {
			total += r.n
		}
		if got := runsOf(s); !reflect.DeepEqual(got, tt.want) || !reflect.DeepEqual(s.Shape, tt.shp) || s.NBytes != total {
			t.Errorf("%v %q: runs %v shape %v nbytes %d, want %v %v %d", tt.shape, tt.spec, got, s.Shape, s.NBytes, tt.want, tt.shp, total)
		}
	}
}

// run is one (offset, length) pair of Slice.Runs.
type run struct{ off, n int64 }

func runsOf(s *Slice) []run {
	var out []run
	for off, n := range s.Runs() {
		out = append(out, run{off, n})
	}
	return out
}

func TestSliceErrors(t *testing.T) {
	tests := []struct {
		spec string
		want error
	}{
		{"0,0,0", ErrTooManySlices},
		{"4", ErrSliceOutOfRange},
		{"-5", ErrSliceOutOfRange},
		{"3:2", ErrInvalidSlice},
		{"::-1", ErrInvalidSlice},
		{":,0:4", ErrSliceOutOfRange},
		{"a", ErrInvalidSlice},
		{"1:2:3:4", ErrInvalidSlice},
		{"::0", ErrInvalidSlice},
		{"1:3:0", ErrInvalidSlice},
		{"0:4:0", ErrInvalidSlice},
		{":,::0", ErrInvalidSlice},
	}
	info := Tensor{Name: "t", DType: dtype.F32, Shape: []uint64{4, 3}}
	for _, tt := range tests {
		idx, err := ParseSpec(tt.spec)
		if err == nil {
			_, perr := plan(info, idx)
			if perr != nil {
				err = perr
			}
		}
		if !errors.Is(err, tt.want) {
			t.Errorf("%q: got %v, want %v", tt.spec, err, tt.want)
		}
	}
}

// TestOpenReadsOnlyTheHeader opens files through a reader that records
// what is read: opening must not touch tensor data.
func TestOpenReadsOnlyTheHeader(t *testing.T) {
	for _, c := range readCases(t, "valid") {
		b, err := os.ReadFile(filepath.Join(conformance, "valid", c.File))
		if err != nil {
			t.Fatal(err)
		}
		r := &recordingReader{r: bytes.NewReader(b)}
		f, err := NewReader(r, int64(len(b)))
		if err != nil {
			t.Fatal(err)
		}
		if r.end > dataOffset(f) {
			t.Errorf("%s: opening read up to byte %d; the data starts at %d", c.File, r.end, dataOffset(f))
		}
	}
}

type recordingReader struct {
	r   io.ReaderAt
	end int64 // one past the last byte read
}

func (r *recordingReader) ReadAt(p []byte, off int64) (int, error) {
	n, err := r.r.ReadAt(p, off)
	r.end = max(r.end, off+int64(n))
	return n, err
}

// TestReadErrorNamesFile: a reader's own error reaches the caller wrapped
// in an *Error that says which file, where, and that it is an I/O error.
func TestReadErrorNamesFile(t *testing.T) {
	var buf bytes.Buffer
	u8 := Data{DType: dtype.U8, Shape: []uint64{4}, Bytes: []byte{1, 2, 3, 4}}
	if err := save(&buf, map[string]Data{"x": u8}, nil); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	dataStart := int64(len(b)) - 4
	fire := errors.New("disk on fire")
	r := brokenData{b: b, from: dataStart, err: fire}
	f, err := NewReader(named{r, "f.safetensors"}, int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	tensor, _ := f.Tensor("x")
	_, err = tensor.Bytes()
	var e *Error
	if Kind(err) != "IoError" || !errors.Is(err, fire) || !errors.As(err, &e) || e.File != "f.safetensors" || e.Offset != dataStart || e.Err != nil {
		t.Fatalf("got %v, want an I/O error in f.safetensors at byte %d", err, dataStart)
	}
}

// named gives a reader a name.
type named struct {
	io.ReaderAt
	name string
}

func (n named) Name() string { return n.name }

// brokenData reads b but fails with err from offset from on.
type brokenData struct {
	b    []byte
	from int64
	err  error
}

func (r brokenData) ReadAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) > r.from {
		return 0, r.err
	}
	return copy(p, r.b[off:]), nil
}
