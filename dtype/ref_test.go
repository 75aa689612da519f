package dtype

import (
	"math"
	"sort"
)

// This file defines every float format a second time, independently of the
// package: from the format parameters and special-value rules in the
// specifications (IEEE 754, OCP OFP8 and MX, the FNUZ descriptions in LLVM
// and ml_dtypes), evaluated in float64 with math.Ldexp. The package's
// scalar functions and slice kernels are checked against it.

// nanRule says which codes of a format are NaN and what it has instead of
// infinities.
type nanRule int

const (
	ieeeRule nanRule = iota // all-ones exponent: mantissa 0 is ±Inf, else NaN
	fnRule                  // no Inf; all-ones exponent and mantissa is NaN
	fnuzRule                // no Inf, no -0; the sign-only code is the NaN
	mxRule                  // no Inf, no NaN (FP4, FP6)
	e8m0Rule                // unsigned exponent only; 0xff is NaN
)

type refFormat struct {
	name         string
	ebits, mbits int
	bias         int
	rule         nanRule
}

func (f refFormat) bits() int {
	if f.rule == e8m0Rule {
		return f.ebits
	}
	return 1 + f.ebits + f.mbits
}

func (f refFormat) signBit() uint32 { return 1 << (f.bits() - 1) }

func (f refFormat) isNaN(c uint32) bool {
	e := c >> f.mbits & (1<<f.ebits - 1)
	m := c & (1<<f.mbits - 1)
	switch f.rule {
	case ieeeRule:
		return e == 1<<f.ebits-1 && m != 0
	case fnRule:
		return e == 1<<f.ebits-1 && m == 1<<f.mbits-1
	case fnuzRule:
		return c == f.signBit()
	case e8m0Rule:
		return c == 0xff
	}
	return false
}

// decode returns the value of code c; NaN codes give a NaN.
func (f refFormat) decode(c uint32) float64 {
	if f.isNaN(c) {
		return math.NaN()
	}
	e := int(c >> f.mbits & (1<<f.ebits - 1))
	m := float64(c & (1<<f.mbits - 1))
	if f.rule == e8m0Rule {
		return math.Ldexp(1, e-127)
	}
	s := 1.0
	if c&f.signBit() != 0 {
		s = -1
	}
	switch {
	case f.rule == ieeeRule && e == 1<<f.ebits-1:
		return math.Inf(int(s))
	case e == 0:
		return s * math.Ldexp(m, 1-f.bias-f.mbits)
	}
	return s * math.Ldexp(float64(int(1)<<f.mbits)+m, e-f.bias-f.mbits)
}

// maxFinite returns the largest finite value and its code.
func (f refFormat) maxFinite() (float64, uint32) {
	best, code := 0.0, uint32(0)
	for c := range uint32(1) << f.bits() {
		if v := f.decode(c); !math.IsInf(v, 0) && v > best {
			best, code = v, c
		}
	}
	return best, code
}

// positives returns the non-negative finite values of the format in
// increasing order with their codes (+0 first).
func (f refFormat) positives() ([]float64, []uint32) {
	var vals []float64
	var codes []uint32
	for c := range uint32(1) << f.bits() {
		v := f.decode(c)
		if f.rule != e8m0Rule && c&f.signBit() != 0 || math.IsNaN(v) || math.IsInf(v, 0) {
			continue
		}
		vals, codes = append(vals, v), append(codes, c)
	}
	idx := make([]int, len(vals))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return vals[idx[a]] < vals[idx[b]] })
	sv, sc := make([]float64, len(idx)), make([]uint32, len(idx))
	for i, j := range idx {
		sv[i], sc[i] = vals[j], codes[j]
	}
	return sv, sc
}

// refTable is a refFormat with its value list precomputed.
type refTable struct {
	refFormat
	maxVal  float64
	maxCode uint32
	vals    []float64 // non-negative finite values, increasing
	codes   []uint32
}

func (f refFormat) table() *refTable {
	t := &refTable{refFormat: f}
	t.maxVal, t.maxCode = f.maxFinite()
	t.vals, t.codes = f.positives()
	return t
}

// overflowCode is the code the encoder must give for ±Inf and for values
// that round beyond the largest finite one, by the documented rules:
// IEEE formats give ±Inf, E4M3 (fn) its NaN of the same sign, FNUZ the
// NaN, MX formats saturate to ±max.
func (t *refTable) overflowCode(neg bool) uint32 {
	var s uint32
	if neg {
		s = t.signBit()
	}
	switch t.rule {
	case ieeeRule:
		return s | (1<<t.ebits-1)<<t.mbits
	case fnRule:
		return s | (1<<(t.ebits+t.mbits) - 1)
	case fnuzRule:
		return t.signBit()
	}
	return s | t.maxCode
}

// zeroCode is the code of a zero with the given sign.
func (t *refTable) zeroCode(neg bool) uint32 {
	if neg && t.rule != fnuzRule {
		return t.signBit()
	}
	return 0
}

// withSign returns the code of the value with code c (non-negative) and
// the given sign.
func (t *refTable) withSign(c uint32, neg bool) uint32 {
	switch {
	case c == 0:
		return t.zeroCode(neg)
	case neg:
		return c | t.signBit()
	}
	return c
}

// round returns the code the encoder must give for the finite x: the
// format value nearest to x with ties to even, computed by scaling x to an
// integer count of units in the last place, which is exact in float64.
// Not for E8M0, whose rounding differs (see TestE8M0Encode).
func (t *refTable) round(x float64) uint32 {
	neg := math.Signbit(x)
	a := math.Abs(x)
	if a == 0 {
		return t.zeroCode(neg)
	}
	_, exp := math.Frexp(a) // a = frac·2**exp, frac in [0.5, 1)
	e := max(exp-1, 1-t.bias)
	ulp := math.Ldexp(1, e-t.mbits)
	r := math.RoundToEven(a/ulp) * ulp
	if r > t.maxVal {
		return t.overflowCode(neg)
	}
	i := sort.SearchFloat64s(t.vals, r)
	if i == len(t.vals) || t.vals[i] != r {
		panic("reference rounding produced an unrepresentable value")
	}
	return t.withSign(t.codes[i], neg)
}

var (
	refBF16     = refFormat{"BF16", 8, 7, 127, ieeeRule}
	refF16      = refFormat{"F16", 5, 10, 15, ieeeRule}
	refE5M2     = refFormat{"F8_E5M2", 5, 2, 15, ieeeRule}
	refE4M3     = refFormat{"F8_E4M3", 4, 3, 7, fnRule}
	refE4M3FNUZ = refFormat{"F8_E4M3FNUZ", 4, 3, 8, fnuzRule}
	refE5M2FNUZ = refFormat{"F8_E5M2FNUZ", 5, 2, 16, fnuzRule}
	refE8M0     = refFormat{"F8_E8M0", 8, 0, 127, e8m0Rule}
	refF4       = refFormat{"F4", 2, 1, 1, mxRule}
	refF6E2M3   = refFormat{"F6_E2M3", 2, 3, 1, mxRule}
	refF6E3M2   = refFormat{"F6_E3M2", 3, 2, 3, mxRule}
)

// codec ties a reference format to the package's scalar functions.
type codec struct {
	ref refFormat
	dt  DType
	dec func(uint32) float32
	enc func(float32) uint32
}

var codecs = []codec{
	{refBF16, BF16, func(c uint32) float32 { return BF16ToFloat32(uint16(c)) }, func(f float32) uint32 { return uint32(Float32ToBF16(f)) }},
	{refF16, F16, func(c uint32) float32 { return F16ToFloat32(uint16(c)) }, func(f float32) uint32 { return uint32(Float32ToF16(f)) }},
	{refE5M2, F8_E5M2, func(c uint32) float32 { return F8E5M2ToFloat32(uint8(c)) }, func(f float32) uint32 { return uint32(Float32ToF8E5M2(f)) }},
	{refE4M3, F8_E4M3, func(c uint32) float32 { return F8E4M3ToFloat32(uint8(c)) }, func(f float32) uint32 { return uint32(Float32ToF8E4M3(f)) }},
	{refE4M3FNUZ, F8_E4M3FNUZ, func(c uint32) float32 { return F8E4M3FNUZToFloat32(uint8(c)) }, func(f float32) uint32 { return uint32(Float32ToF8E4M3FNUZ(f)) }},
	{refE5M2FNUZ, F8_E5M2FNUZ, func(c uint32) float32 { return F8E5M2FNUZToFloat32(uint8(c)) }, func(f float32) uint32 { return uint32(Float32ToF8E5M2FNUZ(f)) }},
	{refE8M0, F8_E8M0, func(c uint32) float32 { return F8E8M0ToFloat32(uint8(c)) }, func(f float32) uint32 { return uint32(Float32ToF8E8M0(f)) }},
	{refF4, F4, func(c uint32) float32 { return F4ToFloat32(uint8(c)) }, func(f float32) uint32 { return uint32(Float32ToF4(f)) }},
	{refF6E2M3, F6_E2M3, func(c uint32) float32 { return F6E2M3ToFloat32(uint8(c)) }, func(f float32) uint32 { return uint32(Float32ToF6E2M3(f)) }},
	{refF6E3M2, F6_E3M2, func(c uint32) float32 { return F6E3M2ToFloat32(uint8(c)) }, func(f float32) uint32 { return uint32(Float32ToF6E3M2(f)) }},
}

// packCodes lays out codes of the given width as safetensors data, by the
// test's own reading of the packing rules: whole little-endian bytes for
// 8 and 16 bits, and for 4 and 6 bits a little-endian bit stream with
// element k in bits [k·w, k·w+w).
func packCodes(codes []uint32, width int) []byte {
	switch width {
	case 8:
		out := make([]byte, len(codes))
		for i, c := range codes {
			out[i] = byte(c)
		}
		return out
	case 16:
		out := make([]byte, 2*len(codes))
		for i, c := range codes {
			out[2*i], out[2*i+1] = byte(c), byte(c>>8)
		}
		return out
	}
	out := make([]byte, (len(codes)*width+7)/8)
	for k, c := range codes {
		for b := range width {
			if c>>b&1 != 0 {
				bit := k*width + b
				out[bit/8] |= 1 << (bit % 8)
			}
		}
	}
	return out
}
