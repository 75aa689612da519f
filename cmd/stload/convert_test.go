package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stload/stload/dtype"
	"github.com/stload/stload/loader"
	"github.com/stload/stload/loader/checkpoint"
)

// TestConvertIdentical rewrites every reference-written file and expects
// the same bytes where the reference's output is deterministic (at most
// one metadata key), and the same content otherwise.
func TestConvertIdentical(t *testing.T) {
	dir := t.TempDir()
	for _, l := range readJSONL(t, filepath.Join(conformance, "valid", "cases.jsonl")) {
		var c struct {
			File         string `json:"file"`
			MetadataKeys int    `json:"metadata_keys"`
		}
		if err := json.Unmarshal(l, &c); err != nil {
			t.Fatal(err)
		}
		t.Run(c.File, func(t *testing.T) {
			in := filepath.Join(conformance, "valid", c.File)
			out := filepath.Join(dir, c.File)
			r := stload(t, "convert", in, out)
			if r.code != 0 || r.stderr != "" {
				t.Fatal(r)
			}
			orig, _ := os.ReadFile(in)
			got, _ := os.ReadFile(out)
			if c.MetadataKeys <= 1 {
				if !bytes.Equal(got, orig) {
					t.Fatalf("rewrite differs:\n got %q\nwant %q", head(string(got)), head(string(orig)))
				}
				return
			}
			a := stload(t, "inspect", "--json", "--sha256", in)
			b := stload(t, "inspect", "--json", "--sha256", out)
			if a.code != 0 || a != b {
				t.Errorf("content differs:\n%v\n%v", a, b)
			}
		})
	}
	assertNoTemp(t, dir)
}

// assertNoTemp fails when dir holds a leftover temporary file.
func assertNoTemp(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp") {
			t.Errorf("temporary file left behind: %s", e.Name())
		}
	}
}

// TestConvertDType converts the BF16 model to F32 and back, and checks
// dtypes and values.
func TestConvertDType(t *testing.T) {
	dir := t.TempDir()
	f32 := filepath.Join(dir, "f32.safetensors")
	r := stload(t, "convert", "--dtype", "f32", tinyLlamaPath, f32)
	if r.code != 0 || !strings.Contains(r.stdout, "21 tensors (21 converted to F32)") {
		t.Fatal(r)
	}
	src, err := loader.Open(tinyLlamaPath)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var got verdict
	r = stload(t, "inspect", "--json", f32)
	decodeLine(t, r.stdout, &got)
	if len(got.Tensors) != tensorCount(src) || string(got.Metadata) != `{"format":"pt"}` {
		t.Fatalf("inspect after convert: %s", r.stdout)
	}
	out, err := loader.Open(f32)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	for _, tj := range got.Tensors {
		if tj.DType != "F32" {
			t.Errorf("%s is %s, want F32", tj.Name, tj.DType)
		}
		a, _ := src.Tensor(tj.Name)
		b, _ := out.Tensor(tj.Name)
		ab, _ := a.Bytes()
		bb, _ := b.Bytes()
		if !reflect.DeepEqual(a.Shape, b.Shape) || len(bb) != 2*len(ab) {
			t.Fatalf("%s: shape %v, %d bytes; want %v, %d", tj.Name, b.Shape, len(bb), a.Shape, 2*len(ab))
		}
		for i := range len(ab) / 2 {
			want := dtype.BF16ToFloat32(binary.LittleEndian.Uint16(ab[2*i:]))
			got := math.Float32frombits(binary.LittleEndian.Uint32(bb[4*i:]))
			if got != want { // BF16 to F32 is exact
				t.Fatalf("%s[%d] = %v, want %v", tj.Name, i, got, want)
			}
		}
	}

	// Back to BF16: the original file, byte for byte.
	back := filepath.Join(dir, "back.safetensors")
	if r := stload(t, "convert", f32, back, "--dtype", "BF16"); r.code != 0 {
		t.Fatal(r)
	}
	a, _ := os.ReadFile(tinyLlamaPath)
	b, _ := os.ReadFile(back)
	if !bytes.Equal(a, b) {
		t.Error("F32 -> BF16 did not give the original file back")
	}

	// F32 to F16 rounds each value to nearest.
	f16 := filepath.Join(dir, "f16.safetensors")
	big := filepath.Join(conformance, "valid", "big_tensor.safetensors")
	if r := stload(t, "convert", "--dtype=f16", big, f16); r.code != 0 {
		t.Fatal(r)
	}
	bf, _ := loader.Open(big)
	defer bf.Close()
	hf, err := loader.Open(f16)
	if err != nil {
		t.Fatal(err)
	}
	defer hf.Close()
	for name := range bf.Tensors() {
		a, _ := bf.Tensor(name)
		b, _ := hf.Tensor(name)
		ab, _ := a.Bytes()
		bb, _ := b.Bytes()
		if b.DType != dtype.F16 || len(bb) != len(ab)/2 {
			t.Fatalf("%s: %v, %d bytes", name, b.DType, len(bb))
		}
		for i := range len(bb) / 2 {
			x := math.Float32frombits(binary.LittleEndian.Uint32(ab[4*i:]))
			if got, want := binary.LittleEndian.Uint16(bb[2*i:]), dtype.Float32ToF16(x); got != want {
				t.Fatalf("%s[%d]: %#04x, want %#04x for %v", name, i, got, want, x)
			}
		}
	}
}

// TestConvertAllDTypes converts a file holding every dtype: the floating
// ones change, integers, BOOL and C64 stay as they are.
func TestConvertAllDTypes(t *testing.T) {
	in := filepath.Join(conformance, "valid", "all_dtypes.safetensors")
	for to, target := range map[string]dtype.DType{
		"bf16": dtype.BF16, "f16": dtype.F16, "f32": dtype.F32, "float16": dtype.F16, "torch.bfloat16": dtype.BF16,
		"half": dtype.F16, "FP32": dtype.F32, "float64": dtype.F64, "float8_e4m3fn": dtype.F8_E4M3, "torch.float8_e5m2": dtype.F8_E5M2,
	} {
		out := filepath.Join(t.TempDir(), "out.safetensors")
		if r := stload(t, "convert", "--dtype", to, in, out); r.code != 0 || !strings.Contains(r.stdout, "converted to "+target.String()) {
			t.Fatal(r)
		}
		src, _ := loader.Open(in)
		dst, err := loader.Open(out)
		if err != nil {
			t.Fatal(err)
		}
		for name, info := range src.Tensors() {
			got, _ := dst.Tensor(name)
			want := info.DType
			if info.DType.Float() && info.DType != dtype.C64 {
				want = target
			}
			if got.DType != want || !reflect.DeepEqual(got.Shape, info.Shape) {
				t.Errorf("--dtype %s: %s is %v %v, want %v %v", to, name, got.DType, got.Shape, want, info.Shape)
			}
			if want == info.DType {
				a, _ := src.Tensor(name)
				b, _ := dst.Tensor(name)
				ab, _ := a.Bytes()
				bb, _ := b.Bytes()
				if !bytes.Equal(ab, bb) {
					t.Errorf("--dtype %s: %s changed", to, name)
				}
			}
		}
		src.Close()
		dst.Close()
	}
}

// TestConvertInPlace converts a file onto itself, with and without a
// dtype change.
func TestConvertInPlace(t *testing.T) {
	dir := t.TempDir()
	path := copyFile(t, tinyLlamaPath, dir)
	orig, _ := os.ReadFile(path)
	if r := stload(t, "convert", path, path); r.code != 0 {
		t.Fatal(r)
	}
	if b, _ := os.ReadFile(path); !bytes.Equal(b, orig) {
		t.Fatal("rewriting in place changed the file")
	}
	if r := stload(t, "convert", "--dtype", "f32", path, path); r.code != 0 {
		t.Fatal(r)
	}
	r := stload(t, "inspect", "--json", path)
	if r.code != 0 || strings.Contains(r.stdout, `"BF16"`) || !strings.Contains(r.stdout, `"F32"`) {
		t.Fatalf("after in-place convert: %v", r)
	}
	dataLen := func(b []byte) int { return len(b) - 8 - int(binary.LittleEndian.Uint64(b)) }
	if got, want := dataLen(mustRead(t, path)), 2*dataLen(orig); got != want {
		t.Errorf("%d bytes of data, want %d", got, want)
	}
	assertNoTemp(t, dir)
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestConvertFailures checks that a failed convert leaves no temporary
// file and does not touch an existing output.
func TestConvertFailures(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out.safetensors")
	const old = "the previous output"
	reset := func() {
		if err := os.WriteFile(out, []byte(old), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	check := func(what string) {
		t.Helper()
		if b, _ := os.ReadFile(out); string(b) != old {
			t.Errorf("%s: the existing output was changed", what)
		}
		assertNoTemp(t, dir)
	}

	// An invalid input: nothing is written.
	reset()
	r := stload(t, "convert", filepath.Join(conformance, "invalid", "offsets_overlap.safetensors"), out)
	if r.code != 1 || !strings.Contains(r.stderr, "[InvalidOffset]") {
		t.Errorf("invalid input: %v", r)
	}
	check("invalid input")

	// A missing input.
	r = stload(t, "convert", filepath.Join(dir, "missing"), out)
	if r.code != 1 || !strings.Contains(r.stderr, "[IoError]") {
		t.Errorf("missing input: %v", r)
	}
	check("missing input")

	// An output directory that does not exist.
	r = stload(t, "convert", tinyLlamaPath, filepath.Join(dir, "no", "such", "dir", "out"))
	if r.code != 1 || !strings.Contains(r.stderr, "[IoError]") {
		t.Errorf("missing output directory: %v", r)
	}
	check("missing output directory")

	// An output directory that holds a directory of the input's name:
	// refused before anything is written (see TestConvertDestinations).
	sub := filepath.Join(dir, "sub")
	os.MkdirAll(filepath.Join(sub, filepath.Base(tinyLlamaPath)), 0o755)
	os.WriteFile(filepath.Join(sub, "keep"), []byte("x"), 0o644)
	r = stload(t, "convert", tinyLlamaPath, sub)
	if r.code != 1 || !strings.Contains(r.stderr, "is a directory") {
		t.Errorf("output is a directory: %v", r)
	}
	if b, err := os.ReadFile(filepath.Join(sub, "keep")); err != nil || string(b) != "x" {
		t.Error("the directory was changed")
	}
	check("output is a directory")

	// A read error in the middle of the tensor data.
	data := mustRead(t, tinyLlamaPath)
	for _, to := range []dtype.DType{dtype.Invalid, dtype.F32} {
		reset()
		failAt := int64(len(data)) / 2
		f, err := loader.NewReader(named{&failingReader{data: data, failAt: failAt}, "flaky"}, int64(len(data)))
		if err != nil {
			t.Fatal(err)
		}
		_, err = convertFile(context.Background(), f, out, to)
		if err == nil || !errors.Is(err, errFlaky) {
			t.Errorf("read error (to %v): got %v", to, err)
		}
		check("read error")
	}

	// An interrupt: the context is cancelled.
	reset()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	f, err := loader.Open(tinyLlamaPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := convertFile(ctx, f, out, dtype.F32); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: got %v", err)
	}
	check("cancelled")
}

// convertFile converts the single file f to out, without a progress bar.
func convertFile(ctx context.Context, f *loader.File, out string, to dtype.DType) ([]string, error) {
	return convertFiles(ctx, []*loader.File{f}, out, to)
}

// convertFiles converts files to the single file out, without a progress
// bar.
func convertFiles(ctx context.Context, files []*loader.File, out string, to dtype.DType) ([]string, error) {
	srcs, st, err := convertSources(files, to)
	if err != nil {
		return nil, err
	}
	return convertTo(ctx, files, srcs, st.bytes, destination{path: out}, nil)
}

// convertShards converts files to a sharded checkpoint in dir, without a
// progress bar.
func convertShards(ctx context.Context, files []*loader.File, dir string, to dtype.DType, maxShard int64) ([]string, error) {
	srcs, st, err := convertSources(files, to)
	if err != nil {
		return nil, err
	}
	return convertSharded(ctx, files, srcs, st.bytes, destination{path: dir, sharded: true}, maxShard, nil)
}

var errFlaky = errors.New("flaky disk")

// failingReader serves data but fails every read that reaches failAt.
type failingReader struct {
	data   []byte
	failAt int64
}

func (r *failingReader) ReadAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) > r.failAt {
		return 0, errFlaky
	}
	if off >= int64(len(r.data)) {
		return 0, io.EOF
	}
	return copy(p, r.data[off:]), nil
}

// TestConvertChunks converts tensors that span many chunks, through a
// memory mapping and through pread, and compares the result with one
// dtype.Convert of the whole tensor.
func TestConvertChunks(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.safetensors")
	data := map[string]loader.Data{}
	for _, c := range []struct {
		dt dtype.DType
		n  int // bytes
	}{
		{dtype.F6_E3M2, 3 * 101}, {dtype.F4, 333}, {dtype.BF16, 2 * 250}, {dtype.F64, 8 * 37},
		{dtype.F8_E4M3, 77}, {dtype.I32, 4 * 30}, {dtype.F32, 4 * 100},
	} {
		b := make([]byte, c.n)
		for i := range b {
			b[i] = byte(i*13 + i/5)
		}
		if c.dt == dtype.F64 || c.dt == dtype.F32 || c.dt == dtype.BF16 {
			b = finite(c.dt, len(b))
		}
		elems := uint64(c.n * 8 / c.dt.Bits())
		data["t_"+c.dt.String()] = loader.Data{DType: c.dt, Shape: []uint64{elems}, Bytes: b}
	}
	if err := loader.SaveFile(in, data, map[string]string{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	for _, pread := range []bool{false, true} {
		var opts []loader.Option
		if pread {
			opts = append(opts, loader.WithPread())
		}
		f, err := loader.Open(in, opts...)
		if err != nil {
			t.Fatal(err)
		}
		if m, release, _ := f.Mapping(); (m == nil) != pread {
			t.Fatalf("pread=%v but mapped=%v", pread, m != nil)
		} else {
			release()
		}
		for _, to := range []dtype.DType{dtype.Invalid, dtype.BF16, dtype.F16, dtype.F32} {
			out := filepath.Join(dir, "out.safetensors")
			if _, err := convertFile(context.Background(), f, out, to); err != nil {
				t.Fatalf("pread=%v to %v: %v", pread, to, err)
			}
			g, err := loader.Open(out)
			if err != nil {
				t.Fatal(err)
			}
			for name, d := range data {
				want := d.Bytes
				if converts(d.DType, to) {
					n, _ := dtype.ConvertedSize(int64(len(want)), d.DType, to)
					conv := make([]byte, n)
					if _, err := dtype.Convert(conv, to, want, d.DType); err != nil {
						t.Fatal(err)
					}
					want = conv
				}
				tt, _ := g.Tensor(name)
				got, _ := tt.Bytes()
				if !bytes.Equal(got, want) {
					t.Errorf("pread=%v to %v: %s differs", pread, to, name)
				}
			}
			g.Close()
		}
		f.Close()
	}
	assertNoTemp(t, dir)
}

// finite returns n bytes of finite values of the floating type dt.
func finite(dt dtype.DType, n int) []byte {
	b := make([]byte, n)
	size := dt.Size()
	for i := 0; i < n/size; i++ {
		x := float64(i%97-48) / 7
		switch dt {
		case dtype.F64:
			binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(x*1.000001))
		case dtype.F32:
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(float32(x)))
		case dtype.BF16:
			binary.LittleEndian.PutUint16(b[2*i:], dtype.Float32ToBF16(float32(x)))
		}
	}
	return b
}

// TestConvertReaderSmallReads reads converted tensors through buffers of
// every size up to past one element group, which the reader must fill
// with whole groups converted in place or, below a group, in pieces.
func TestConvertReaderSmallReads(t *testing.T) {
	in := filepath.Join(t.TempDir(), "in.safetensors")
	data := map[string]loader.Data{
		"f6":   {DType: dtype.F6_E3M2, Shape: []uint64{4 * 37}, Bytes: finite(dtype.F32, 3*37)},
		"f4":   {DType: dtype.F4, Shape: []uint64{2 * 41}, Bytes: finite(dtype.F32, 41)},
		"bf16": {DType: dtype.BF16, Shape: []uint64{45}, Bytes: finite(dtype.BF16, 2*45)},
		"f64":  {DType: dtype.F64, Shape: []uint64{13}, Bytes: finite(dtype.F64, 8*13)},
	}
	if err := loader.SaveFile(in, data, nil); err != nil {
		t.Fatal(err)
	}
	for _, pread := range []bool{false, true} {
		var opts []loader.Option
		if pread {
			opts = append(opts, loader.WithPread())
		}
		f, err := loader.Open(in, opts...)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		for name, d := range data {
			tt, _ := f.Tensor(name)
			want := make([]byte, 4*len(d.Bytes)*8/d.DType.Bits())
			n, err := dtype.Convert(want, dtype.F32, d.Bytes, d.DType)
			if err != nil {
				t.Fatal(err)
			}
			want = want[:n]
			for size := 1; size <= 20; size++ {
				src, err := checkpoint.Convert(checkpoint.SourceOf(tt), dtype.F32)
				if err != nil {
					t.Fatal(err)
				}
				r, err := src.Open()
				if err != nil {
					t.Fatal(err)
				}
				var got []byte
				buf := make([]byte, size)
				for {
					k, err := r.Read(buf)
					got = append(got, buf[:k]...)
					if err == io.EOF {
						break
					}
					if err != nil {
						t.Fatalf("%s pread=%v size %d: %v", name, pread, size, err)
					}
				}
				if !bytes.Equal(got, want) {
					t.Errorf("%s pread=%v, reads of %d bytes: %d bytes differ from one Convert", name, pread, size, len(got))
				}
			}
		}
	}
}

// TestConvertErrorKind: a conversion that does not exist reports the
// conversion kind, not a malformed file's, and names the file and the
// tensor, before anything is written.
func TestConvertErrorKind(t *testing.T) {
	f, err := loader.Open(tinyLlamaPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := filepath.Join(t.TempDir(), "out.safetensors")
	_, err = convertFile(context.Background(), f, out, dtype.F4) // a sub-byte target
	var e *loader.Error
	if k := loader.Kind(err); k != "UnsupportedConversion" || !errors.Is(err, dtype.ErrUnsupported) ||
		!errors.As(err, &e) || e.File != f.Name() || e.Tensor != "lm_head.weight" || e.Offset == 0 {
		t.Errorf("kind %q: %v", k, err)
	}
	if _, err := os.Stat(out); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s: %v", out, err)
	}
}

// TestConvertMeterKeepsWriteTo checks that the progress meter keeps the
// WriteTo of checkpoint.Convert's sources, through which the writers
// convert straight from the mapping with no copy besides the conversion,
// and counts the converted bytes it writes.
func TestConvertMeterKeepsWriteTo(t *testing.T) {
	f, err := loader.Open(tinyLlamaPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	srcs, st, err := convertSources([]*loader.File{f}, dtype.F32)
	if err != nil || st.converted != 21 || st.bytes != 2*213_632 {
		t.Fatalf("%+v: %v", st, err)
	}
	bar := &progressBar{w: io.Discard, start: time.Now(), now: time.Now}
	metered, stop := meterSources(srcs, st.bytes, bar)
	defer stop()
	var total int64
	for i, s := range metered {
		r, err := s.Open()
		if err != nil {
			t.Fatal(err)
		}
		wt, ok := r.(io.WriterTo)
		if !ok {
			t.Fatalf("%s: the metered reader %T has no WriteTo", s.Name, r)
		}
		var got bytes.Buffer
		n, err := wt.WriteTo(&got)
		if err != nil || n != int64(got.Len()) {
			t.Fatalf("%s: %d, %v", s.Name, n, err)
		}
		tt, _ := f.Tensor(srcs[i].Name)
		raw, _ := tt.Bytes()
		want := make([]byte, 2*len(raw))
		if k, err := dtype.Convert(want, dtype.F32, raw, tt.DType); err != nil || !bytes.Equal(got.Bytes(), want[:k]) {
			t.Errorf("%s: converted bytes differ (%v)", s.Name, err)
		}
		r.(io.Closer).Close()
		total += n
	}
	if total != st.bytes {
		t.Errorf("wrote %d bytes, want %d", total, st.bytes)
	}
}
