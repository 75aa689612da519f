package dtype_test

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/stload/stload/dtype"
)

// A BF16 checkpoint tensor is widened to F32 while it is staged.
func ExampleConvert() {
	// The tensor [2.25, 1, -0.5] as BF16 bytes, as a safetensors file
	// stores it.
	src := []byte{0x10, 0x40, 0x80, 0x3f, 0x00, 0xbf}

	size, err := dtype.ConvertedSize(int64(len(src)), dtype.BF16, dtype.F32)
	if err != nil {
		panic(err)
	}
	dst := make([]byte, size)
	n, err := dtype.Convert(dst, dtype.F32, src, dtype.BF16)
	if err != nil {
		panic(err)
	}
	for i := 0; i < n; i += 4 {
		fmt.Println(math.Float32frombits(binary.LittleEndian.Uint32(dst[i:])))
	}
	// Output:
	// 2.25
	// 1
	// -0.5
}

// Narrowing rounds to nearest, ties to even: 1 + 2⁻¹¹ lies halfway between
// the halves 1 and 1 + 2⁻¹⁰ and goes to the even one, 1 (0x3c00).
func ExampleConvert_narrowing() {
	src := make([]byte, 8)
	binary.LittleEndian.PutUint32(src, math.Float32bits(1+0x1p-11))
	binary.LittleEndian.PutUint32(src[4:], math.Float32bits(70000))
	dst := make([]byte, 4)
	if _, err := dtype.Convert(dst, dtype.F16, src, dtype.F32); err != nil {
		panic(err)
	}
	fmt.Printf("% x\n", dst) // 1 and +Inf: 70000 is beyond the largest half
	// Output:
	// 00 3c 00 7c
}

func ExampleBF16ToFloat32() {
	fmt.Println(dtype.BF16ToFloat32(0x4010), dtype.BF16ToFloat32(0xbf80))
	fmt.Printf("%#04x\n", dtype.Float32ToBF16(2.25))
	// Output:
	// 2.25 -1
	// 0x4010
}

func ExampleFloat32ToF8E4M3() {
	for _, f := range []float32{-0.5, 448, 500} {
		b := dtype.Float32ToF8E4M3(f)
		fmt.Printf("%v → %#02x → %v\n", f, b, dtype.F8E4M3ToFloat32(b))
	}
	// Output:
	// -0.5 → 0xb0 → -0.5
	// 448 → 0x7e → 448
	// 500 → 0x7f → NaN
}

// F4 packs two elements per byte, the first in the low nibble.
func ExampleToFloat32_f4() {
	vals := make([]float32, 4)
	if err := dtype.ToFloat32(vals, []byte{0xa1, 0x7f}, dtype.F4); err != nil {
		panic(err)
	}
	fmt.Println(vals)
	// Output:
	// [0.5 -1 -6 6]
}
