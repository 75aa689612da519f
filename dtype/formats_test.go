package dtype

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/x448/float16"
)

// TestDecodeAllCodes decodes every code of every format of 16 bits or
// fewer, one at a time with the scalar function and all at once with
// ToFloat32, and compares both with the reference definition.
func TestDecodeAllCodes(t *testing.T) {
	for _, c := range codecs {
		t.Run(c.ref.name, func(t *testing.T) {
			n := uint32(1) << c.ref.bits()
			codes := make([]uint32, n)
			for i := range codes {
				codes[i] = uint32(i)
			}
			slice := make([]float32, n)
			if err := ToFloat32(slice, packCodes(codes, c.dt.Bits()), c.dt); err != nil {
				t.Fatal(err)
			}
			for code := range n {
				got, want := c.dec(code), c.ref.decode(code)
				if !sameValue(float64(got), want) {
					t.Errorf("decode(%#x) = %v, want %v", code, got, want)
				}
				if math.IsNaN(want) && c.ref.rule <= fnRule && math.Signbit(float64(got)) != (code&c.ref.signBit() != 0) {
					t.Errorf("decode(%#x) = NaN with the wrong sign", code)
				}
				if math.Float32bits(slice[code]) != math.Float32bits(got) {
					t.Errorf("ToFloat32 of code %#x = %#x, scalar %#x", code, math.Float32bits(slice[code]), math.Float32bits(got))
				}
			}
		})
	}
}

// sameValue reports whether a and b are equal including the sign of zero,
// or both NaN.
func sameValue(a, b float64) bool {
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.IsNaN(a) && math.IsNaN(b)
	}
	return a == b && math.Signbit(a) == math.Signbit(b)
}

// TestF16MatchesX448 compares the half conversions with
// github.com/x448/float16 bit for bit: every half decoded, and float32
// values around every rounding boundary encoded.
func TestF16MatchesX448(t *testing.T) {
	for h := range 1 << 16 {
		got := math.Float32bits(F16ToFloat32(uint16(h)))
		want := math.Float32bits(float16.Frombits(uint16(h)).Float32())
		if got != want {
			t.Fatalf("F16ToFloat32(%#04x) = %#08x, x448 %#08x", h, got, want)
		}
	}
	b := f32Boundaries()
	for i := 0; i < len(b); i += 4 {
		f := float32frombytes(b[i:])
		if got, want := Float32ToF16(f), float16.Fromfloat32(f).Bits(); got != want {
			t.Fatalf("Float32ToF16(%#08x) = %#04x, x448 %#04x", math.Float32bits(f), got, want)
		}
	}
}

// TestRoundTrip encodes every decoded code: each non-NaN code must come
// back unchanged, each NaN as some NaN.
func TestRoundTrip(t *testing.T) {
	for _, c := range codecs {
		for code := range uint32(1) << c.ref.bits() {
			got := c.enc(c.dec(code))
			switch {
			case c.ref.isNaN(code):
				if !c.ref.isNaN(got) {
					t.Errorf("%s: NaN %#x re-encodes to non-NaN %#x", c.ref.name, code, got)
				}
			case got != code:
				t.Errorf("%s: %#x decodes to %v, which encodes to %#x", c.ref.name, code, c.dec(code), got)
			}
		}
	}
}

// TestEncodeHalfway checks ties to even at every halfway point between
// adjacent values of each format, the neighbours of each halfway point,
// and the same for negative values, including the points between the
// largest value and the first value past it, where overflow starts.
func TestEncodeHalfway(t *testing.T) {
	for _, c := range codecs {
		if c.dt == F8_E8M0 {
			continue // ties up, not to even: TestE8M0Encode
		}
		tab := c.ref.table()
		vals, codes := tab.vals, tab.codes
		ulpMax := vals[len(vals)-1] - vals[len(vals)-2]
		for i := range vals {
			lo, hi := vals[i], vals[i]+ulpMax
			loCode, hiCode := codes[i], tab.overflowCode(false)
			if i+1 < len(vals) {
				hi, hiCode = vals[i+1], codes[i+1]
			}
			tie := hiCode
			if codes[i]&1 == 0 {
				tie = loCode
			}
			mid := float32((lo + hi) / 2)
			if float64(mid) != (lo+hi)/2 {
				t.Fatalf("%s: midpoint of %v and %v is not a float32", c.ref.name, lo, hi)
			}
			for _, tc := range []struct {
				x    float32
				want uint32
			}{
				{mid, tie},
				{math.Nextafter32(mid, 0), loCode},
				{math.Nextafter32(mid, float32(math.Inf(1))), hiCode},
			} {
				if got := c.enc(tc.x); got != tc.want {
					t.Errorf("%s: encode(%v) = %#x, want %#x", c.ref.name, tc.x, got, tc.want)
				}
				wantNeg := tab.withSign(tc.want, true)
				if tc.want == hiCode && hiCode == tab.overflowCode(false) {
					wantNeg = tab.overflowCode(true)
				}
				if got := c.enc(-tc.x); got != wantNeg {
					t.Errorf("%s: encode(%v) = %#x, want %#x", c.ref.name, -tc.x, got, wantNeg)
				}
			}
		}
	}
}

// TestEncodeRandom compares the encoders with the reference rounding on
// random float32 values spread over and beyond each format's range.
func TestEncodeRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	n := 20000
	if testing.Short() {
		n = 2000
	}
	for _, c := range codecs {
		if c.dt == F8_E8M0 {
			continue
		}
		tab := c.ref.table()
		for range n {
			// Uniform exponent over the format's range ±8 binades,
			// random mantissa and sign; now and then any bits at all.
			var f float32
			if rng.IntN(8) == 0 {
				f = math.Float32frombits(rng.Uint32())
			} else {
				e := rng.IntN(1<<c.ref.ebits+16) - c.ref.bias - c.ref.mbits - 8
				f = float32(math.Ldexp(1+rng.Float64(), e))
				if rng.IntN(2) == 0 {
					f = -f
				}
			}
			var want uint32
			switch {
			case f != f:
				continue // TestEncodeNaN
			case math.IsInf(float64(f), 0):
				want = tab.overflowCode(f < 0)
			default:
				want = tab.round(float64(f))
			}
			if got := c.enc(f); got != want {
				t.Fatalf("%s: encode(%v = %#08x) = %#x, want %#x", c.ref.name, f, math.Float32bits(f), got, want)
			}
		}
	}
}

// TestEncodeSpecials checks NaN, infinities and zeros for every encoder.
func TestEncodeSpecials(t *testing.T) {
	nans := []uint32{0x7fc00000, 0xffc00000, 0x7f800001, 0xff800001, 0x7fa00000, 0x7fffffff}
	for _, c := range codecs {
		tab := c.ref.table()
		for _, u := range nans {
			f := math.Float32frombits(u)
			got := c.enc(f)
			switch c.ref.rule {
			case mxRule:
				// No NaN: documented as the negative-zero code.
				if got != c.ref.signBit() {
					t.Errorf("%s: encode(NaN %#08x) = %#x, want %#x", c.ref.name, u, got, c.ref.signBit())
				}
				continue
			case ieeeRule, fnRule:
				if (got&c.ref.signBit() != 0) != (u>>31 != 0) {
					t.Errorf("%s: encode(NaN %#08x) = %#x lost the sign", c.ref.name, u, got)
				}
			}
			if !c.ref.isNaN(got) {
				t.Errorf("%s: encode(NaN %#08x) = %#x, not a NaN", c.ref.name, u, got)
			}
		}
		if c.dt == F8_E8M0 {
			continue // TestE8M0Encode
		}
		for _, neg := range []bool{false, true} {
			s := float32(1)
			if neg {
				s = -1
			}
			if got, want := c.enc(s*float32(math.Inf(1))), tab.overflowCode(neg); got != want {
				t.Errorf("%s: encode(%v·Inf) = %#x, want %#x", c.ref.name, s, got, want)
			}
			if got, want := c.enc(s*0), tab.zeroCode(neg); got != want {
				t.Errorf("%s: encode(%v·0) = %#x, want %#x", c.ref.name, s, got, want)
			}
			if got, want := c.enc(s*0x1p-149), tab.zeroCode(neg); got != want {
				t.Errorf("%s: encode(%v·2**-149) = %#x, want %#x", c.ref.name, s, got, want)
			}
		}
	}
	// The quiet bit is set and the payload's top kept for bfloat16.
	if got := Float32ToBF16(math.Float32frombits(0xff800001)); got != 0xffc0 {
		t.Errorf("Float32ToBF16(sNaN with low payload) = %#x, want 0xffc0", got)
	}
	if got := Float32ToBF16(math.Float32frombits(0x7fa50000)); got != 0x7fe5 {
		t.Errorf("Float32ToBF16(0x7fa50000) = %#x, want 0x7fe5", got)
	}
	if got := Float32ToBF16(math.MaxFloat32); got != 0x7f80 {
		t.Errorf("Float32ToBF16(MaxFloat32) = %#x, want +Inf 0x7f80", got)
	}
}

// TestE8M0Encode checks the power-of-two scale format, whose rounding is
// documented to follow ml_dtypes: halfway (1.5·2**k) rounds up; zero,
// negatives, Inf and NaN give NaN; float32 subnormals round between codes
// 0 and 1 as if code 0 were zero.
func TestE8M0Encode(t *testing.T) {
	want := func(f float32) uint8 {
		x := float64(f)
		switch {
		case x != x || x <= 0 || math.IsInf(x, 1):
			return 0xff
		case x < 0x1p-126:
			if x > 0x1p-127 {
				return 1
			}
			return 0
		}
		frac, exp := math.Frexp(x) // x = frac·2**exp, frac in [0.5, 1)
		k := exp - 1
		if frac >= 0.75 {
			k++
		}
		if k > 127 {
			return 0xff
		}
		return uint8(k + 127)
	}
	cases := []float32{0, float32(math.Copysign(0, -1)), -1, 1, 1.5, 1.4999999, 2, 3, 0.5, 0.75, 0x1p127, 0x1.7fffffp127, 0x1.8p127,
		math.MaxFloat32, 0x1p-126, 0x1p-127, 0x1.000002p-127, 0x1.8p-127, 0x1p-149, 0x1.8p-126, float32(math.Inf(1))}
	rng := rand.New(rand.NewPCG(7, 8))
	for range 20000 {
		cases = append(cases, math.Float32frombits(rng.Uint32()))
	}
	for _, f := range cases {
		if got, w := Float32ToF8E8M0(f), want(f); got != w {
			t.Errorf("Float32ToF8E8M0(%v = %#08x) = %#x, want %#x", f, math.Float32bits(f), got, w)
		}
	}
}

// TestGolden checks byte vectors worked out by hand from the reference
// digest's conformance list.
func TestGolden(t *testing.T) {
	// BF16 (2,2) ones with [0,0] = 2.25: 2.25 = 0x40100000, so 0x4010;
	// 1 = 0x3f800000, so 0x3f80; little-endian.
	got := make([]byte, 8)
	if err := FromFloat32(got, []float32{2.25, 1, 1, 1}, BF16); err != nil {
		t.Fatal(err)
	}
	if want := []byte{0x10, 0x40, 0x80, 0x3f, 0x80, 0x3f, 0x80, 0x3f}; string(got) != string(want) {
		t.Errorf("BF16 golden = % x, want % x", got, want)
	}
	// -0.5 = -1.0·2**-1 and 0.5 = 1.0·2**-1: mantissa 0, biased exponent
	// -1 + bias, sign on top.
	for _, tc := range []struct {
		name string
		got  uint8
		want uint8
	}{
		{"e4m3fn(-0.5): 1 0110 000", Float32ToF8E4M3(-0.5), 0xb0},
		{"e5m2(-0.5): 1 01110 00", Float32ToF8E5M2(-0.5), 0xb8},
		{"e8m0(0.5): 126", Float32ToF8E8M0(0.5), 0x7e},
		{"e4m3fnuz(0.5): 0 0111 000", Float32ToF8E4M3FNUZ(0.5), 0x38},
		{"e5m2fnuz(0.5): 0 01111 00", Float32ToF8E5M2FNUZ(0.5), 0x3c},
		{"e4m3fn max 448", Float32ToF8E4M3(448), 0x7e},
		{"e4m3fn 464 ties to 448", Float32ToF8E4M3(464), 0x7e},
		{"e4m3fn 465 overflows to NaN", Float32ToF8E4M3(465), 0x7f},
		{"e4m3fnuz 248 ties up: NaN", Float32ToF8E4M3FNUZ(248), 0x80},
		{"e4m3fnuz -0 is +0", Float32ToF8E4M3FNUZ(float32(math.Copysign(0, -1))), 0x00},
		{"e5m2 61440 ties up to Inf", Float32ToF8E5M2(61440), 0x7c},
		{"f4 5 ties to 4", Float32ToF4(5), 0x6},
		{"f4 -7 saturates to -6", Float32ToF4(-7), 0xf},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: got %#02x, want %#02x", tc.name, tc.got, tc.want)
		}
	}
	for _, tc := range []struct {
		name      string
		got, want float32
	}{
		{"e4m3fn 0xb0", F8E4M3ToFloat32(0xb0), -0.5},
		{"e5m2 0xb8", F8E5M2ToFloat32(0xb8), -0.5},
		{"e8m0 0x7e", F8E8M0ToFloat32(0x7e), 0.5},
		{"e4m3fnuz 0x38", F8E4M3FNUZToFloat32(0x38), 0.5},
		{"e5m2fnuz 0x3c", F8E5M2FNUZToFloat32(0x3c), 0.5},
		{"e4m3fnuz max 0x7f", F8E4M3FNUZToFloat32(0x7f), 240},
		{"e5m2fnuz max 0x7f", F8E5M2FNUZToFloat32(0x7f), 57344},
		{"e8m0 0x00", F8E8M0ToFloat32(0), 0x1p-127},
		{"e8m0 0xfe", F8E8M0ToFloat32(0xfe), 0x1p127},
		{"f6e2m3 max", F6E2M3ToFloat32(0x1f), 7.5},
		{"f6e3m2 max", F6E3M2ToFloat32(0x1f), 28},
		{"f6e3m2 min subnormal", F6E3M2ToFloat32(0x01), 0.0625},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, tc.got, tc.want)
		}
	}
}

// TestF4Values checks the F4 value set stated in the safetensors digest.
func TestF4Values(t *testing.T) {
	want := []float32{0, 0.5, 1, 1.5, 2, 3, 4, 6}
	for i, w := range want {
		if got := F4ToFloat32(uint8(i)); got != w {
			t.Errorf("F4ToFloat32(%d) = %v, want %v", i, got, w)
		}
		if got := F4ToFloat32(uint8(i | 8)); got != -w || !math.Signbit(float64(got)) {
			t.Errorf("F4ToFloat32(%d) = %v, want -%v", i|8, got, w)
		}
	}
}
