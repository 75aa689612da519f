package dense_test

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"gorgonia.org/tensor"

	"github.com/stload/stload/device"
	"github.com/stload/stload/device/dense"
	"github.com/stload/stload/device/devicetest"
	"github.com/stload/stload/dtype"
	"github.com/stload/stload/loader"
)

// load loads f onto the CPU (views of its mapping) and closes the Set at
// the end of the test.
func load(t *testing.T, f *loader.File, opts ...device.Option) *device.Set {
	t.Helper()
	set, err := device.Load(t.Context(), device.Files(f), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { set.Close() })
	return set
}

func TestOf(t *testing.T) {
	data := map[string]loader.Data{
		"scalar": {DType: dtype.F64, Bytes: dtype.AsBytes([]float64{2.5})},
		"empty":  {DType: dtype.I32, Shape: []uint64{0, 5}},
	}
	for _, d := range dtype.All() {
		b := make([]byte, 12*d.Bits()/8)
		for i := range b {
			b[i] = byte(i*37 + 1)
			if d == dtype.BOOL {
				b[i] &= 1
			}
		}
		data["t_"+d.String()] = loader.Data{DType: d, Shape: []uint64{3, 4}, Bytes: b}
	}
	set := load(t, save(t, data))
	wantType := map[dtype.DType]reflect.Type{
		dtype.F16: reflect.TypeFor[uint16](), dtype.BF16: reflect.TypeFor[uint16](),
		dtype.F8_E4M3: reflect.TypeFor[uint8](), dtype.F8_E5M2: reflect.TypeFor[uint8](),
		dtype.F8_E8M0: reflect.TypeFor[uint8](), dtype.F8_E4M3FNUZ: reflect.TypeFor[uint8](),
		dtype.F8_E5M2FNUZ: reflect.TypeFor[uint8](),
	}
	for tn := range set.All() {
		d, err := dense.Of(tn)
		if tn.DType.Size() == 0 {
			if !errors.Is(err, dtype.ErrUnsupported) {
				t.Errorf("%s: Dense of a sub-byte type: %v", tn.Name, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tn.Name, err)
			continue
		}
		want := tn.DType.GoType()
		if w, ok := wantType[tn.DType]; ok {
			want = w
		}
		if d.Dtype().Type != want {
			t.Errorf("%s: Dense of %v, want %v", tn.Name, d.Dtype(), want)
		}
		if tn.Len > 0 && d.Uintptr() != tn.Ptr() {
			t.Errorf("%s: Dense copied the bytes", tn.Name)
		}
		shape := make([]int, len(tn.Shape))
		for i, x := range tn.Shape {
			shape[i] = int(x)
		}
		if len(shape) > 0 && !reflect.DeepEqual([]int(d.Shape()), shape) {
			t.Errorf("%s: shape %v, want %v", tn.Name, d.Shape(), shape)
		}
	}
	bf, _ := set.Tensor("t_BF16")
	d, err := dense.Float32(bf)
	if err != nil {
		t.Fatal(err)
	}
	got := d.Data().([]float32)
	for i := range got {
		if want := dtype.BF16ToFloat32(binary.LittleEndian.Uint16(bf.Bytes()[2*i:])); got[i] != want && !math.IsNaN(float64(want)) {
			t.Fatalf("element %d = %v, want %v", i, got[i], want)
		}
	}
	if sc, _ := set.Tensor("scalar"); sc != nil {
		d, err := dense.Of(sc)
		if err != nil || !d.IsScalar() {
			t.Errorf("scalar: %v, %v", d, err)
		}
	}
}

// writeRaw writes a safetensors file by hand: one tensor of dt and shape
// whose bytes are data, behind a header padded with spaces to pad bytes
// (so that the data may start at any offset).
func writeRaw(t *testing.T, dt dtype.DType, shape []uint64, data []byte, pad int) *loader.File {
	t.Helper()
	hdr, err := json.Marshal(map[string]any{"x": map[string]any{
		"dtype": dt.String(), "shape": shape, "data_offsets": []int{0, len(data)}}})
	if err != nil {
		t.Fatal(err)
	}
	for len(hdr) < pad {
		hdr = append(hdr, ' ')
	}
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(hdr)))
	b = append(append(b, hdr...), data...)
	path := filepath.Join(t.TempDir(), "raw.safetensors")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return open(t, path)
}

// save writes data to a file with loader.SaveFile and opens it.
func save(t *testing.T, data map[string]loader.Data) *loader.File {
	t.Helper()
	path := filepath.Join(t.TempDir(), "saved.safetensors")
	if err := loader.SaveFile(path, data, nil); err != nil {
		t.Fatal(err)
	}
	return open(t, path)
}

// open opens path until the test ends.
func open(t *testing.T, path string) *loader.File {
	t.Helper()
	f, err := loader.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// TestOfBoolAlignmentDevice: BOOL bytes other than 0 and 1 are an error;
// an F32 view at an odd address is copied into aligned memory; a tensor
// on an accelerator has no Dense.
func TestOfBoolAlignmentDevice(t *testing.T) {
	set := load(t, writeRaw(t, dtype.BOOL, []uint64{3}, []byte{0, 1, 2}, 64))
	b, _ := set.Tensor("x")
	if _, err := dense.Of(b); !errors.Is(err, dtype.ErrUnsupported) {
		t.Errorf("BOOL byte 2: %v", err)
	}

	raw := dtype.AsBytes([]float32{0.5, 1.5, 2.5, 3.5})
	f := writeRaw(t, dtype.F32, []uint64{2, 2}, raw, 101) // data at 8+101: odd
	set = load(t, f)
	odd, _ := set.Tensor("x")
	if odd.Ptr()%4 == 0 {
		t.Fatalf("the view is aligned (%#x): the test needs an odd one", odd.Ptr())
	}
	d, err := dense.Of(odd)
	if err != nil {
		t.Fatal(err)
	}
	if d.Uintptr() == odd.Ptr() || d.Data().([]float32)[3] != 3.5 {
		t.Errorf("misaligned view: %v", d.Data())
	}

	sim := devicetest.Install(t, devicetest.Options{})
	set = load(t, f, device.On(sim.Device(0)))
	gpu, _ := set.Tensor("x")
	for name, fn := range map[string]func(*device.Tensor) (*tensor.Dense, error){"Of": dense.Of, "Float32": dense.Float32} {
		if _, err := fn(gpu); !errors.Is(err, device.ErrNotOnCPU) {
			t.Errorf("%s of a device tensor: %v", name, err)
		}
	}
}

// TestToData saves Dense tensors, a view among them, and loads them back:
// the bytes, shapes and dtypes round-trip.
func TestToData(t *testing.T) {
	m := tensor.New(tensor.WithShape(3, 4), tensor.WithBacking([]float32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}))
	col, err := m.Slice(nil, tensor.S(1, 3)) // columns 1 and 2: not contiguous
	if err != nil {
		t.Fatal(err)
	}
	half := tensor.New(tensor.WithShape(2), tensor.WithBacking([]uint16{dtype.Float32ToBF16(1.5), dtype.Float32ToBF16(-2)}))
	scalar := tensor.New(tensor.FromScalar(int64(-7)))
	tests := []struct {
		name  string
		d     *tensor.Dense
		as    dtype.DType
		dt    dtype.DType
		shape []uint64
		want  []float32
	}{
		{"matrix", m, dtype.Invalid, dtype.F32, []uint64{3, 4}, []float32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}},
		{"view", col.(*tensor.Dense), dtype.Invalid, dtype.F32, []uint64{3, 2}, []float32{1, 2, 5, 6, 9, 10}},
		{"bf16 bits", half, dtype.BF16, dtype.BF16, []uint64{2}, []float32{1.5, -2}},
		{"scalar", scalar, dtype.Invalid, dtype.I64, []uint64{}, []float32{-7}},
	}
	data := map[string]loader.Data{}
	for _, tt := range tests {
		d, err := dense.ToData(tt.d, tt.as)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		data[tt.name] = d
	}
	set := load(t, save(t, data))
	for _, tt := range tests {
		tn, _ := set.Tensor(tt.name)
		got, err := dense.Float32(tn)
		if err != nil {
			t.Fatal(err)
		}
		vals, _ := got.Data().([]float32)
		if tn.DType != tt.dt || !reflect.DeepEqual(tn.Shape, tt.shape) && len(tt.shape) > 0 || !reflect.DeepEqual(vals, tt.want) && !(len(tt.want) == 1 && got.ScalarValue() == tt.want[0]) {
			t.Errorf("%s: %v %v %v; want %v %v %v", tt.name, tn.DType, tn.Shape, got.Data(), tt.dt, tt.shape, tt.want)
		}
	}
	if _, err := dense.ToData(half, dtype.F32); !errors.Is(err, dtype.ErrUnsupported) {
		t.Errorf("uint16 Dense as F32: %v", err)
	}
	if _, err := dense.ToData(tensor.New(tensor.WithBacking([]int{1})), dtype.Invalid); !errors.Is(err, dtype.ErrUnsupported) {
		t.Errorf("int Dense: %v", err)
	}
}
