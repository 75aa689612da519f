package device

import (
	"encoding/binary"
	"errors"
	"math"
	"reflect"
	"testing"
	"unsafe"

	"github.com/stload/stload/dtype"
	"github.com/stload/stload/loader"
)

func TestDense(t *testing.T) {
	var specs []spec
	for _, d := range dtype.All() {
		specs = append(specs, sp("t_"+d.String(), d, 3, 4))
	}
	specs = append(specs, sp("scalar", dtype.F64), sp("empty", dtype.I32, 0, 5))
	f := writeFile(t, t.TempDir(), "d.safetensors", 20, specs)
	set := load(t, []*loader.File{f})
	wantType := map[dtype.DType]reflect.Type{
		dtype.F16: reflect.TypeFor[uint16](), dtype.BF16: reflect.TypeFor[uint16](),
		dtype.F8_E4M3: reflect.TypeFor[uint8](), dtype.F8_E5M2: reflect.TypeFor[uint8](),
		dtype.F8_E8M0: reflect.TypeFor[uint8](), dtype.F8_E4M3FNUZ: reflect.TypeFor[uint8](),
		dtype.F8_E5M2FNUZ: reflect.TypeFor[uint8](),
	}
	for tn := range set.All() {
		d, err := tn.Dense()
		if tn.DType.Size() == 0 {
			if !errors.Is(err, ErrConvert) {
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
	d, err := bf.DenseFloat32()
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
		d, err := sc.Dense()
		if err != nil || !d.IsScalar() {
			t.Errorf("scalar: %v, %v", d, err)
		}
	}
}

func TestDenseBoolAndAlignment(t *testing.T) {
	bad := &Tensor{Name: "b", DType: dtype.BOOL, Shape: []uint64{3}, data: []byte{0, 1, 2}, Len: 3}
	if _, err := bad.Dense(); !errors.Is(err, ErrConvert) {
		t.Errorf("BOOL byte 2: %v", err)
	}
	buf := make([]uint64, 3)
	raw := unsafe.Slice((*byte)(unsafe.Pointer(&buf[0])), 24)[1:17]
	for i := range 4 {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(float32(i)+0.5))
	}
	odd := &Tensor{Name: "odd", DType: dtype.F32, Shape: []uint64{2, 2}, data: raw, Len: 16}
	d, err := odd.Dense()
	if err != nil {
		t.Fatal(err)
	}
	if d.Uintptr() == odd.Ptr() || d.Data().([]float32)[3] != 3.5 {
		t.Errorf("misaligned view: %v", d.Data())
	}
	gpu := &Tensor{Name: "g", DType: dtype.F32, Memory: &simMem{}}
	if _, err := gpu.Dense(); !errors.Is(err, ErrNotOnCPU) {
		t.Errorf("Dense of a device tensor: %v", err)
	}
}
