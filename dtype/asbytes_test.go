package dtype

import (
	"bytes"
	"encoding/binary"
	"math"
	"testing"
	"unsafe"
)

// TestAsBytes checks AsBytes against values encoded one at a time with
// encoding/binary, for every element type, and against the portable copy
// that big-endian machines use, which this way also runs on little-endian
// ones.
func TestAsBytes(t *testing.T) {
	le := binary.LittleEndian
	check := func(name string, got, copied, want []byte) {
		t.Helper()
		if !bytes.Equal(got, want) || !bytes.Equal(copied, want) {
			t.Errorf("%s: AsBytes % x, copy % x; want % x", name, got, copied, want)
		}
	}
	b := []bool{true, false, true}
	check("bool", AsBytes(b), copyLE(b), []byte{1, 0, 1})
	i8 := []int8{-1, 2, -128}
	check("int8", AsBytes(i8), copyLE(i8), []byte{0xff, 2, 0x80})
	u16 := []uint16{0x3f80, 0x1234}
	check("uint16", AsBytes(u16), copyLE(u16), le.AppendUint16(le.AppendUint16(nil, 0x3f80), 0x1234))
	i16 := []int16{-2}
	check("int16", AsBytes(i16), copyLE(i16), []byte{0xfe, 0xff})
	i32 := []int32{-3, 1 << 30}
	check("int32", AsBytes(i32), copyLE(i32), le.AppendUint32(le.AppendUint32(nil, 0xfffffffd), 1<<30))
	u64 := []uint64{0x0102030405060708}
	check("uint64", AsBytes(u64), copyLE(u64), le.AppendUint64(nil, 0x0102030405060708))
	f32 := []float32{1.5, -2}
	check("float32", AsBytes(f32), copyLE(f32),
		le.AppendUint32(le.AppendUint32(nil, math.Float32bits(1.5)), math.Float32bits(-2)))
	f64 := []float64{math.Pi}
	check("float64", AsBytes(f64), copyLE(f64), le.AppendUint64(nil, math.Float64bits(math.Pi)))
	c64 := []complex64{complex(1, -1)}
	check("complex64", AsBytes(c64), copyLE(c64),
		le.AppendUint32(le.AppendUint32(nil, math.Float32bits(1)), math.Float32bits(-1)))
	type bits16 uint16 // as float16.Float16 is defined
	h := []bits16{0x3c00}
	check("defined uint16", AsBytes(h), copyLE(h), []byte{0x00, 0x3c})
	if AsBytes([]float32(nil)) != nil || len(AsBytes([]int64{})) != 0 {
		t.Error("AsBytes of an empty slice is not empty")
	}
}

// TestAsBytesAliases checks that on a little-endian machine the bytes are
// v's memory, as documented, and that the converters read them as the
// values they are.
func TestAsBytesAliases(t *testing.T) {
	v := []float32{1, 2, 3}
	b := AsBytes(v)
	if littleEndian && unsafe.SliceData(b) != (*byte)(unsafe.Pointer(&v[0])) {
		t.Error("AsBytes copied on a little-endian machine")
	}
	back := make([]float32, 3)
	if err := ToFloat32(back, AsBytes([]uint16{Float32ToBF16(1), Float32ToBF16(2), Float32ToBF16(3)}), BF16); err != nil {
		t.Fatal(err)
	}
	if back[0] != 1 || back[1] != 2 || back[2] != 3 {
		t.Errorf("BF16 bits through AsBytes decode to %v", back)
	}
	if err := ToFloat32(back, b, F32); err != nil || back[2] != 3 {
		t.Errorf("F32 through AsBytes decodes to %v, %v", back, err)
	}
}
