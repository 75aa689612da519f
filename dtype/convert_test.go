package dtype

import (
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"testing"
)

// testLengths are element counts around the kernels' unroll, block and
// assembly thresholds.
var testLengths = []int{0, 1, 2, 3, 4, 7, 8, 9, 63, 64, 65, 511, 512, 513, 1023, 1024, 1025, 2051}

// floatTypes are the types Convert reads; narrowTargets those it writes
// besides F32 and F64.
var (
	floatTypes = []DType{F4, F6_E2M3, F6_E3M2, F8_E5M2, F8_E4M3, F8_E8M0, F8_E4M3FNUZ, F8_E5M2FNUZ, F16, BF16, F32, F64}
	intTypes   = []DType{BOOL, U8, I8, I16, U16, I32, U32, I64, U64}
	targets    = []DType{F8_E5M2, F8_E4M3, F8_E8M0, F8_E4M3FNUZ, F8_E5M2FNUZ, F16, BF16, F32, F64}
)

// scalarDecode decodes element i of src one value at a time: the test's
// model of ToFloat32, built from the scalar functions and plain Go
// conversions.
func scalarDecode(src []byte, d DType, i int) float32 {
	le := binary.LittleEndian
	switch d {
	case F4:
		return F4ToFloat32(src[i/2] >> (4 * (i % 2)))
	case F6_E2M3, F6_E3M2:
		g := src[i/4*3:]
		v := uint32(g[0]) | uint32(g[1])<<8 | uint32(g[2])<<16
		c := uint8(v >> (6 * (i % 4)) & 63)
		if d == F6_E2M3 {
			return F6E2M3ToFloat32(c)
		}
		return F6E3M2ToFloat32(c)
	case F8_E5M2:
		return F8E5M2ToFloat32(src[i])
	case F8_E4M3:
		return F8E4M3ToFloat32(src[i])
	case F8_E8M0:
		return F8E8M0ToFloat32(src[i])
	case F8_E4M3FNUZ:
		return F8E4M3FNUZToFloat32(src[i])
	case F8_E5M2FNUZ:
		return F8E5M2FNUZToFloat32(src[i])
	case F16:
		return F16ToFloat32(le.Uint16(src[2*i:]))
	case BF16:
		return BF16ToFloat32(le.Uint16(src[2*i:]))
	case F32:
		return math.Float32frombits(le.Uint32(src[4*i:]))
	case F64:
		return float32(math.Float64frombits(le.Uint64(src[8*i:])))
	case BOOL:
		if src[i] != 0 {
			return 1
		}
		return 0
	case U8:
		return float32(src[i])
	case I8:
		return float32(int8(src[i]))
	case I16:
		return float32(int16(le.Uint16(src[2*i:])))
	case U16:
		return float32(le.Uint16(src[2*i:]))
	case I32:
		return float32(int32(le.Uint32(src[4*i:])))
	case U32:
		return float32(le.Uint32(src[4*i:]))
	case I64:
		return float32(int64(le.Uint64(src[8*i:])))
	case U64:
		return float32(le.Uint64(src[8*i:]))
	}
	panic("scalarDecode: " + d.String())
}

// scalarEncode appends the encoding of f as d (whole-byte types only).
func scalarEncode(dst []byte, f float32, d DType) []byte {
	switch d {
	case F8_E5M2:
		return append(dst, Float32ToF8E5M2(f))
	case F8_E4M3:
		return append(dst, Float32ToF8E4M3(f))
	case F8_E8M0:
		return append(dst, Float32ToF8E8M0(f))
	case F8_E4M3FNUZ:
		return append(dst, Float32ToF8E4M3FNUZ(f))
	case F8_E5M2FNUZ:
		return append(dst, Float32ToF8E5M2FNUZ(f))
	case F16:
		return binary.LittleEndian.AppendUint16(dst, Float32ToF16(f))
	case BF16:
		return binary.LittleEndian.AppendUint16(dst, Float32ToBF16(f))
	case F32:
		return binary.LittleEndian.AppendUint32(dst, math.Float32bits(f))
	case F64:
		return binary.LittleEndian.AppendUint64(dst, math.Float64bits(float64(f)))
	}
	panic("scalarEncode: " + d.String())
}

// scalarEncodeAll encodes src with the scalar functions, packing sub-byte
// types with the test's own bit-stream packer.
func scalarEncodeAll(src []float32, d DType) []byte {
	switch d {
	case F4, F6_E2M3, F6_E3M2:
		codes := make([]uint32, len(src))
		for i, f := range src {
			switch d {
			case F4:
				codes[i] = uint32(Float32ToF4(f))
			case F6_E2M3:
				codes[i] = uint32(Float32ToF6E2M3(f))
			default:
				codes[i] = uint32(Float32ToF6E3M2(f))
			}
		}
		return packCodes(codes, d.Bits())
	}
	var out []byte
	for _, f := range src {
		out = scalarEncode(out, f, d)
	}
	return out
}

// bytesFor returns the byte length of n elements of d.
func bytesFor(n int, d DType) int { return n * d.Bits() / 8 }

// roundLen rounds n down to a whole number of bytes' worth of d elements.
func roundLen(n int, d DType) int {
	switch d.Bits() {
	case 4:
		return n &^ 1
	case 6:
		return n &^ 3
	}
	return n
}

// randFloats returns n float32 values mixing plain numbers of every
// magnitude with arbitrary bit patterns (NaNs, infinities, subnormals).
func randFloats(rng *rand.Rand, n int) []float32 {
	out := make([]float32, n)
	for i := range out {
		if rng.IntN(4) == 0 {
			out[i] = math.Float32frombits(rng.Uint32())
		} else {
			out[i] = float32(math.Ldexp(rng.NormFloat64(), rng.IntN(40)-20))
		}
	}
	return out
}

func sameBits(a, b float32) bool { return math.Float32bits(a) == math.Float32bits(b) }

func TestToFloat32MatchesScalar(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for _, d := range append(append([]DType{}, floatTypes...), intTypes...) {
		for _, n := range testLengths {
			n = roundLen(n, d)
			src := randBytes(rng, bytesFor(n, d))
			dst := make([]float32, n)
			if err := ToFloat32(dst, src, d); err != nil {
				t.Fatalf("%v n=%d: %v", d, n, err)
			}
			for i := range dst {
				if want := scalarDecode(src, d, i); !sameBits(dst[i], want) {
					t.Fatalf("%v n=%d: element %d = %#x, want %#x", d, n, i, math.Float32bits(dst[i]), math.Float32bits(want))
				}
			}
		}
	}
}

func TestFromFloat32MatchesScalar(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, d := range append([]DType{F4, F6_E2M3, F6_E3M2}, targets...) {
		for _, n := range testLengths {
			n = roundLen(n, d)
			src := randFloats(rng, n)
			dst := make([]byte, bytesFor(n, d))
			if err := FromFloat32(dst, src, d); err != nil {
				t.Fatalf("%v n=%d: %v", d, n, err)
			}
			if want := scalarEncodeAll(src, d); string(dst) != string(want) {
				i := firstDiff(dst, want)
				t.Fatalf("%v n=%d: byte %d = %#x, want %#x", d, n, i, dst[i], want[i])
			}
		}
	}
}

// TestConvertMatchesScalar converts between every pair of supported types
// and compares with decoding and re-encoding one value at a time. Inputs
// are random bits, so NaNs and infinities are covered; F64 inputs are
// checked separately (TestConvertF64).
func TestConvertMatchesScalar(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	for _, from := range floatTypes {
		if from == F64 {
			continue
		}
		for _, to := range targets {
			for _, n := range testLengths {
				n = roundLen(n, from)
				src := randBytes(rng, bytesFor(n, from))
				var want []byte
				for i := range n {
					want = scalarEncode(want, scalarDecode(src, from, i), to)
				}
				if from == to {
					want = src // a copy, NaN payloads and all
				}
				size, err := ConvertedSize(int64(len(src)), from, to)
				if err != nil || size != int64(len(want)) {
					t.Fatalf("ConvertedSize(%d, %v, %v) = %d, %v; want %d", len(src), from, to, size, err, len(want))
				}
				dst := make([]byte, len(want)+3) // longer than needed
				got, err := Convert(dst, to, src, from)
				if err != nil || got != len(want) {
					t.Fatalf("Convert %v→%v n=%d = %d, %v; want %d", from, to, n, got, err, len(want))
				}
				if i := firstDiff(dst[:got], want); i >= 0 {
					t.Fatalf("Convert %v→%v n=%d: byte %d = %#x, want %#x", from, to, n, i, dst[i], want[i])
				}
			}
		}
	}
}

// TestConvertF64 checks that converting F64 rounds once, directly to the
// target, by comparing with the reference rounding of the exact float64.
func TestConvertF64(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	// Values just above a halfway point of the target, where rounding to
	// float32 first would land on the halfway point and then go to even.
	xs := []float64{1 + 0x1p-8 + 0x1p-30, 1 + 0x1p-11 + 0x1p-40, 1 + 0x1p-4 + 0x1p-40, 1 + 0x1p-3 + 0x1p-50,
		-(1 + 0x1p-8 + 0x1p-30), 0x1p-140 + 0x1p-170, 1e300, -1e300, 1e-300, 0x1.ffffffffp127}
	for range 5000 {
		xs = append(xs, math.Ldexp(rng.NormFloat64(), rng.IntN(60)-30))
	}
	src := make([]byte, 0, 8*len(xs))
	for _, x := range xs {
		src = binary.LittleEndian.AppendUint64(src, math.Float64bits(x))
	}
	for _, c := range codecs {
		if c.dt.Size() == 0 || c.dt == F8_E8M0 {
			continue // sub-byte targets are not Convert's; E8M0 rounds differently
		}
		tab := c.ref.table()
		dst := make([]byte, len(xs)*c.dt.Size())
		if _, err := Convert(dst, c.dt, src, F64); err != nil {
			t.Fatal(err)
		}
		for i, x := range xs {
			want := tab.round(x)
			got := uint32(dst[i])
			if c.dt.Size() == 2 {
				got = uint32(binary.LittleEndian.Uint16(dst[2*i:]))
			}
			if got != want {
				t.Errorf("Convert F64 %v (%x) → %v = %#x, want %#x", x, x, c.dt, got, want)
			}
		}
	}
	// F64 → F32 is plain rounding to nearest.
	dst := make([]byte, 4*len(xs))
	if _, err := Convert(dst, F32, src, F64); err != nil {
		t.Fatal(err)
	}
	for i, x := range xs {
		if got := float32frombytes(dst[4*i:]); got != float32(x) {
			t.Errorf("Convert F64 %v → F32 = %v, want %v", x, got, float32(x))
		}
	}
}

// TestSubBytePacking decodes and encodes multi-byte F4 and F6 data whose
// layout the test builds itself from the documented bit order.
func TestSubBytePacking(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 18))
	for _, c := range codecs {
		if c.dt.Size() != 0 {
			continue
		}
		for _, n := range []int{4, 8, 12, 40, 1028} {
			codes := make([]uint32, n)
			for i := range codes {
				codes[i] = rng.Uint32N(1 << c.dt.Bits())
			}
			packed := packCodes(codes, c.dt.Bits())
			vals := make([]float32, n)
			if err := ToFloat32(vals, packed, c.dt); err != nil {
				t.Fatal(err)
			}
			for i, code := range codes {
				if !sameBits(vals[i], c.dec(code)) {
					t.Fatalf("%v n=%d: element %d = %v, want %v (code %#x)", c.dt, n, i, vals[i], c.dec(code), code)
				}
			}
			back := make([]byte, len(packed))
			if err := FromFloat32(back, vals, c.dt); err != nil {
				t.Fatal(err)
			}
			if string(back) != string(packed) {
				t.Fatalf("%v n=%d: re-encoded % x, want % x", c.dt, n, back, packed)
			}
		}
	}
	// Spelled out: F4 [0.5, -6] is one byte, low nibble first; F6_E2M3
	// [1, 0, 0, 7.5] is v = 0b011111·2**18 | 0b001000 = 0x7c0008.
	b := make([]byte, 1)
	if err := FromFloat32(b, []float32{0.5, -6}, F4); err != nil || b[0] != 0xf1 {
		t.Errorf("F4 [0.5 -6] = %#x, %v; want 0xf1", b[0], err)
	}
	b = make([]byte, 3)
	if err := FromFloat32(b, []float32{1, 0, 0, 7.5}, F6_E2M3); err != nil || string(b) != "\x08\x00\x7c" {
		t.Errorf("F6_E2M3 [1 0 0 7.5] = % x, %v; want 08 00 7c", b, err)
	}
}

func TestErrors(t *testing.T) {
	f := make([]float32, 4)
	b := make([]byte, 64)
	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"ToFloat32 C64", ToFloat32(f[:1], b[:8], C64), ErrUnsupported},
		{"ToFloat32 Invalid", ToFloat32(f[:0], b[:0], Invalid), ErrUnsupported},
		{"ToFloat32 dst short", ToFloat32(f[:3], b[:8], BF16), ErrLength},
		{"ToFloat32 dst long", ToFloat32(f[:4], b[:6], BF16), ErrLength},
		{"ToFloat32 partial element", ToFloat32(f[:1], b[:3], BF16), ErrLength},
		{"ToFloat32 F6 not 3 bytes", ToFloat32(f[:1], b[:1], F6_E3M2), ErrLength},
		{"FromFloat32 I32", FromFloat32(b[:16], f, I32), ErrUnsupported},
		{"FromFloat32 C64", FromFloat32(b[:32], f, C64), ErrUnsupported},
		{"FromFloat32 BOOL", FromFloat32(b[:4], f, BOOL), ErrUnsupported},
		{"FromFloat32 dst short", FromFloat32(b[:7], f, F16), ErrLength},
		{"FromFloat32 dst long", FromFloat32(b[:9], f, F16), ErrLength},
		{"FromFloat32 F4 odd", FromFloat32(b[:2], f[:3], F4), ErrLength},
		{"FromFloat32 F6 not 4", FromFloat32(b[:3], f[:3], F6_E2M3), ErrLength},
		{"Convert dst short", second(Convert(b[:7], F32, b[:4], BF16)), ErrLength},
		{"Convert partial", second(Convert(b, F32, b[:3], BF16)), ErrLength},
		{"Convert to F4", second(Convert(b, F4, b[:4], F32)), ErrUnsupported},
		{"Convert to I8", second(Convert(b, I8, b[:4], F32)), ErrUnsupported},
		{"Convert from I8", second(Convert(b, F32, b[:4], I8)), ErrUnsupported},
		{"Convert C64 to F32", second(Convert(b, F32, b[:8], C64)), ErrUnsupported},
		{"Convert F32 to C64", second(Convert(b, C64, b[:8], F32)), ErrUnsupported},
	} {
		if !errors.Is(tc.err, tc.want) {
			t.Errorf("%s: error %v, want %v", tc.name, tc.err, tc.want)
		}
	}
}

func second(_ int, err error) error { return err }

func TestConvertedSize(t *testing.T) {
	for _, tc := range []struct {
		n        int64
		from, to DType
		want     int64
		err      error
	}{
		{10, BF16, F32, 20, nil},
		{12, F32, F16, 6, nil},
		{8, F64, F8_E4M3, 1, nil},
		{5, F4, F16, 20, nil},
		{6, F6_E2M3, F32, 32, nil},
		{7, F6_E2M3, F32, 0, ErrLength},
		{6, F6_E3M2, F6_E3M2, 6, nil}, // identity is a copy
		{16, C64, C64, 16, nil},
		{3, I8, I8, 0, ErrUnsupported},
		{3, BF16, F32, 0, ErrLength},
		{-2, BF16, F32, 0, ErrLength},
		{4, F32, F4, 0, ErrUnsupported},
		{4, F32, F6_E2M3, 0, ErrUnsupported},
		{4, U32, F32, 0, ErrUnsupported},
		{4, F32, Invalid, 0, ErrUnsupported},
		{math.MaxInt64 / 8, F4, F64, 0, ErrLength},
		{math.MaxInt64 / 8, F8_E4M3, F64, math.MaxInt64 / 8 * 8, nil},
		{math.MaxInt64/8 + 1, F8_E4M3, F64, 0, ErrLength},
		{1 << 40, F8_E4M3, F64, 1 << 43, nil},
	} {
		got, err := ConvertedSize(tc.n, tc.from, tc.to)
		if got != tc.want || !errors.Is(err, tc.err) || (err == nil) != (tc.err == nil) {
			t.Errorf("ConvertedSize(%d, %v, %v) = %d, %v; want %d, %v", tc.n, tc.from, tc.to, got, err, tc.want, tc.err)
		}
	}
}

// TestNoAllocs checks that the slice functions do not allocate, on the
// fast paths and on the blocked generic path alike.
func TestNoAllocs(t *testing.T) {
	const n = 4096
	src := make([]byte, 8*n)
	dst := make([]byte, 8*n)
	f := make([]float32, n)
	ToFloat32(f, src[:n], F8_E4M3) // build the tables outside the count
	ToFloat32(f, src[:2*n], F16)
	for _, tc := range []struct {
		name string
		fn   func()
	}{
		{"Convert BF16→F32", func() { Convert(dst, F32, src[:2*n], BF16) }},
		{"Convert F16→BF16", func() { Convert(dst, BF16, src[:2*n], F16) }},
		{"Convert F8→F16", func() { Convert(dst, F16, src[:n], F8_E4M3) }},
		{"Convert F64→F8", func() { Convert(dst, F8_E5M2, src[:8*n], F64) }},
		{"Convert F6→F32", func() { Convert(dst, F32, src[:3*n/4], F6_E2M3) }},
		{"ToFloat32 BF16", func() { ToFloat32(f, src[:2*n], BF16) }},
		{"ToFloat32 F16", func() { ToFloat32(f, src[:2*n], F16) }},
		{"ToFloat32 I64", func() { ToFloat32(f, src[:8*n], I64) }},
		{"FromFloat32 F16", func() { FromFloat32(dst[:2*n], f, F16) }},
		{"FromFloat32 F8", func() { FromFloat32(dst[:n], f, F8_E4M3FNUZ) }},
	} {
		if a := testing.AllocsPerRun(10, tc.fn); a != 0 {
			t.Errorf("%s: %v allocations", tc.name, a)
		}
	}
}

// TestSignedZeroAndNaNThroughSlices runs the special values through the
// slice paths too (the scalar tests cover the functions).
func TestSignedZeroAndNaNThroughSlices(t *testing.T) {
	negZero := float32(math.Copysign(0, -1))
	nan := float32(math.NaN())
	src := make([]float32, 128) // long enough for the vector kernels
	for i := range src {
		src[i] = []float32{negZero, nan, -nan, float32(math.Inf(-1))}[i%4]
	}
	for _, d := range targets {
		dst := make([]byte, len(src)*d.Size())
		if err := FromFloat32(dst, src, d); err != nil {
			t.Fatal(err)
		}
		back := make([]float32, len(src))
		if err := ToFloat32(back, dst, d); err != nil {
			t.Fatal(err)
		}
		for i := range 4 {
			if got := back[i]; src[i] != src[i] && got == got {
				t.Errorf("%v: NaN came back as %v", d, got)
			}
		}
		zeroSign := math.Signbit(float64(back[0]))
		wantSign := d != F8_E4M3FNUZ && d != F8_E5M2FNUZ && d != F8_E8M0
		if d == F8_E8M0 {
			if back[0] == back[0] {
				t.Errorf("%v: -0 came back as %v, want NaN", d, back[0])
			}
		} else if back[0] != 0 || zeroSign != wantSign {
			t.Errorf("%v: -0 came back as %v (sign %v)", d, back[0], zeroSign)
		}
	}
}

// TestF8SliceBoundaries runs the FP8 slice encoder, which has its own fast
// paths, over float32 values at and around every rounding boundary of the
// FP8 formats, and compares with the scalar functions.
func TestF8SliceBoundaries(t *testing.T) {
	b := f32Boundaries()
	src := make([]float32, len(b)/4)
	for i := range src {
		src[i] = float32frombytes(b[4*i:])
	}
	dst := make([]byte, len(src))
	for _, d := range []DType{F8_E5M2, F8_E4M3, F8_E4M3FNUZ, F8_E5M2FNUZ, F8_E8M0} {
		if err := FromFloat32(dst, src, d); err != nil {
			t.Fatal(err)
		}
		for i, f := range src {
			if want := scalarEncode(nil, f, d)[0]; dst[i] != want {
				t.Fatalf("%v: encode(%#08x) = %#02x, scalar %#02x", d, math.Float32bits(f), dst[i], want)
			}
		}
	}
}
