package dtype_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"math"

	"github.com/stload/stload/dtype"
	"github.com/stload/stload/loader"
)

// Parse reads the header names and the spellings people type.
func ExampleParse() {
	for _, s := range []string{"BF16", "bfloat16", "torch.float16", "FP32", "float8_e4m3fn", "fp8"} {
		d, err := dtype.Parse(s)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Printf("%-14s %v\n", s, d)
	}
	// Output:
	// BF16           BF16
	// bfloat16       BF16
	// torch.float16  F16
	// FP32           F32
	// float8_e4m3fn  F8_E4M3
	// dtype: unknown element type: "fp8": ambiguous: F8_E4M3 (float8_e4m3fn) or F8_E5M2 (float8_e5m2)?
}

// A ConvertWriter converts a tensor that arrives in pieces, here to hash
// its BF16 elements as F32 without holding them converted. The pieces may
// split elements: the first write ends in the middle of one.
func ExampleConvertWriter() {
	src := []byte{0x10, 0x40, 0x80, 0x3f, 0x00, 0xbf} // BF16 [2.25, 1, -0.5]
	h := sha256.New()
	cw, err := dtype.NewConvertWriter(h, dtype.BF16, dtype.F32)
	if err != nil {
		panic(err)
	}
	for _, piece := range [][]byte{src[:3], src[3:]} {
		if _, err := cw.Write(piece); err != nil {
			panic(err)
		}
	}
	if err := cw.Close(); err != nil { // writes the rest, fails on a torn element
		panic(err)
	}

	f32 := make([]byte, 12)
	if _, err := dtype.Convert(f32, dtype.F32, src, dtype.BF16); err != nil {
		panic(err)
	}
	want := sha256.Sum256(f32)
	fmt.Println("same hash as the whole tensor converted:", bytes.Equal(h.Sum(nil), want[:]))
	// Output:
	// same hash as the whole tensor converted: true
}

// A ConvertReader converts as it is read; io.Copy uses its WriteTo, which
// takes a bytes.Reader's (or a mapped file's) bytes without copying them.
func ExampleConvertReader() {
	src := []byte{0x00, 0x3c, 0x00, 0xc0} // F16 [1, -2]
	cr, err := dtype.NewConvertReader(bytes.NewReader(src), dtype.F16, dtype.F32)
	if err != nil {
		panic(err)
	}
	var out bytes.Buffer
	if _, err := io.Copy(&out, cr); err != nil {
		panic(err)
	}
	fmt.Printf("% x\n", out.Bytes())
	// Output:
	// 00 00 80 3f 00 00 00 c0
}

// AsBytes turns Go values into tensor data for the writer.
func ExampleAsBytes() {
	weights := []float32{1, 2, 3, 4, 5, 6}
	data := loader.Data{DType: dtype.F32, Shape: []uint64{2, 3}, Bytes: dtype.AsBytes(weights)}
	fmt.Println(len(data.Bytes), data.Bytes[:4])

	// F16 and BF16 elements are held as their bits.
	half := []uint16{dtype.Float32ToF16(1), dtype.Float32ToF16(-2)}
	data = loader.Data{DType: dtype.F16, Shape: []uint64{2}, Bytes: dtype.AsBytes(half)}
	fmt.Printf("% x\n", data.Bytes)
	// Output:
	// 24 [0 0 128 63]
	// 00 3c 00 c0
}

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
