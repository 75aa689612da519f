// Package dtype describes the element types of the safetensors format: their
// names as written in a header, their widths in bits, the Go types that can
// hold them, and fast slice-at-a-time conversions between the floating-point
// formats and float32.
//
// The set of types and their header names follow the Hugging Face
// reference implementation exactly: in a header, names are case-sensitive
// ("F32", never "f32"; see [Lookup]), and the FP8 types keep the format's
// own names (F8_E4M3 is the type PyTorch calls float8_e4m3fn). [Parse]
// reads what people type on a command line or in a config: "bf16",
// "float16", "torch.bfloat16", "float8_e4m3fn" and so on.
//
// # Conversions
//
// [ToFloat32], [FromFloat32] and [Convert] convert whole slices of
// little-endian elements without allocating; the scalar functions such as
// [BF16ToFloat32] and [Float32ToF8E4M3] convert one value and document each
// format's range, NaN and overflow rules. Decoding is exact, except F64 to
// float32; encoding rounds to nearest with ties to even (E8M0: ties up),
// like PyTorch and ml_dtypes.
//
// [ConvertWriter] and [ConvertReader] convert a stream, a tensor that
// arrives or is wanted in pieces, with the same results as [Convert] and
// no copy beyond a cache-sized buffer of their own.
//
// [AsBytes] turns a Go slice ([]float32, []uint16 holding BF16 bits, ...)
// into tensor bytes for the writer, without copying on little-endian
// machines.
//
// The sub-byte types are packed as in PyTorch and the OCP MX libraries. F4:
// element 2i is the low nibble of byte i, element 2i+1 the high nibble. F6:
// four elements fill three bytes, read as one little-endian bit stream in
// which element k occupies bits [6k, 6k+6), least significant bit first;
// with v = b[0] | b[1]<<8 | b[2]<<16, element j of the group is
// (v >> 6j) & 63.
package dtype

import (
	"fmt"
	"reflect"
)

// DType is a safetensors element type. The zero value is Invalid.
//
// The numeric order of the constants is the reference's declaration order
// ("increasing alignment"), which the writer uses to order tensors.
type DType uint8

// The safetensors element types, in the reference's declaration order.
const (
	// Invalid is the zero value; it is not an element type.
	Invalid     DType = iota
	BOOL              // boolean, one byte per element
	F4                // MXFP4 E2M1, two elements per byte
	F6_E2M3           // MXFP6 E2M3, 6 bits, bit-packed
	F6_E3M2           // MXFP6 E3M2, 6 bits, bit-packed
	U8                // unsigned 8-bit integer
	I8                // signed 8-bit integer
	F8_E5M2           // FP8 with 5 exponent and 2 mantissa bits (has Inf)
	F8_E4M3           // FP8 E4M3 "fn": finite only, one NaN pattern per sign
	F8_E8M0           // FP8 power-of-two scale (OCP MX), unsigned
	F8_E4M3FNUZ       // FP8 E4M3, finite, unsigned zero, bias 8
	F8_E5M2FNUZ       // FP8 E5M2, finite, unsigned zero, bias 16
	I16               // signed 16-bit integer
	U16               // unsigned 16-bit integer
	F16               // IEEE 754 half precision
	BF16              // bfloat16
	I32               // signed 32-bit integer
	U32               // unsigned 32-bit integer
	F32               // IEEE 754 single precision
	C64               // complex64: two float32, real then imaginary
	F64               // IEEE 754 double precision
	I64               // signed 64-bit integer
	U64               // unsigned 64-bit integer

	numTypes
)

// ErrUnknown is returned by [Parse] for a name that is not a safetensors
// element type, or that could mean more than one.
var ErrUnknown error = &kinded{"dtype: unknown element type", "UnknownDType"}

// kinded is the type of the package's sentinel errors: a message, and the
// kind name that stload's loader.Kind reports for it.
type kinded struct{ msg, kind string }

func (e *kinded) Error() string { return e.msg }
func (e *kinded) Kind() string  { return e.kind }

var names = [numTypes]string{
	Invalid:     "",
	BOOL:        "BOOL",
	F4:          "F4",
	F6_E2M3:     "F6_E2M3",
	F6_E3M2:     "F6_E3M2",
	U8:          "U8",
	I8:          "I8",
	F8_E5M2:     "F8_E5M2",
	F8_E4M3:     "F8_E4M3",
	F8_E8M0:     "F8_E8M0",
	F8_E4M3FNUZ: "F8_E4M3FNUZ",
	F8_E5M2FNUZ: "F8_E5M2FNUZ",
	I16:         "I16",
	U16:         "U16",
	F16:         "F16",
	BF16:        "BF16",
	I32:         "I32",
	U32:         "U32",
	F32:         "F32",
	C64:         "C64",
	F64:         "F64",
	I64:         "I64",
	U64:         "U64",
}

var bits = [numTypes]uint8{
	BOOL: 8, F4: 4, F6_E2M3: 6, F6_E3M2: 6, U8: 8, I8: 8,
	F8_E5M2: 8, F8_E4M3: 8, F8_E8M0: 8, F8_E4M3FNUZ: 8, F8_E5M2FNUZ: 8,
	I16: 16, U16: 16, F16: 16, BF16: 16,
	I32: 32, U32: 32, F32: 32,
	C64: 64, F64: 64, I64: 64, U64: 64,
}

// All returns every valid element type in declaration order.
func All() []DType {
	out := make([]DType, 0, numTypes-1)
	for d := BOOL; d < numTypes; d++ {
		out = append(out, d)
	}
	return out
}

// Lookup returns the element type whose header name is b, or Invalid.
// Matching is exact and case-sensitive, as in the reference: this is how a
// header is read, once per tensor, without allocating. [Parse] also
// accepts the spellings people type.
func Lookup(b []byte) DType {
	// A switch on string(b) neither allocates nor compares every case:
	// the compiler dispatches on the length, then searches the cases of
	// that length. TestLookup checks that these names match [DType.String].
	switch string(b) {
	case "BOOL":
		return BOOL
	case "F4":
		return F4
	case "F6_E2M3":
		return F6_E2M3
	case "F6_E3M2":
		return F6_E3M2
	case "U8":
		return U8
	case "I8":
		return I8
	case "F8_E5M2":
		return F8_E5M2
	case "F8_E4M3":
		return F8_E4M3
	case "F8_E8M0":
		return F8_E8M0
	case "F8_E4M3FNUZ":
		return F8_E4M3FNUZ
	case "F8_E5M2FNUZ":
		return F8_E5M2FNUZ
	case "I16":
		return I16
	case "U16":
		return U16
	case "F16":
		return F16
	case "BF16":
		return BF16
	case "I32":
		return I32
	case "U32":
		return U32
	case "F32":
		return F32
	case "C64":
		return C64
	case "F64":
		return F64
	case "I64":
		return I64
	case "U64":
		return U64
	}
	return Invalid
}

// String returns the header name of d ("F32", "BF16", ...), or a
// placeholder for an invalid value.
func (d DType) String() string {
	if d.Valid() {
		return names[d]
	}
	return fmt.Sprintf("DType(%d)", uint8(d))
}

// Valid reports whether d is one of the defined element types.
func (d DType) Valid() bool { return d > Invalid && d < numTypes }

// Bits returns the width of one element in bits (4 for F4, 6 for the F6
// types), or 0 for an invalid type.
func (d DType) Bits() int {
	if !d.Valid() {
		return 0
	}
	return int(bits[d])
}

// Size returns the width of one element in bytes, or 0 for the sub-byte
// types (F4, F6_*) whose elements do not occupy whole bytes.
func (d DType) Size() int {
	b := d.Bits()
	if b%8 != 0 {
		return 0
	}
	return b / 8
}

// Float reports whether d holds floating-point values (including the FP8,
// FP6 and FP4 formats, and complex64).
func (d DType) Float() bool {
	switch d {
	case F4, F6_E2M3, F6_E3M2, F8_E5M2, F8_E4M3, F8_E8M0, F8_E4M3FNUZ,
		F8_E5M2FNUZ, F16, BF16, F32, F64, C64:
		return true
	}
	return false
}

// GoType returns the Go type that holds one element of d with the same
// bits, or nil when Go has none (F16, BF16, the FP8, FP6 and FP4 types).
// BOOL maps to bool: the reference writes 0 or 1 bytes.
func (d DType) GoType() reflect.Type {
	switch d {
	case BOOL:
		return reflect.TypeFor[bool]()
	case U8:
		return reflect.TypeFor[uint8]()
	case I8:
		return reflect.TypeFor[int8]()
	case I16:
		return reflect.TypeFor[int16]()
	case U16:
		return reflect.TypeFor[uint16]()
	case I32:
		return reflect.TypeFor[int32]()
	case U32:
		return reflect.TypeFor[uint32]()
	case F32:
		return reflect.TypeFor[float32]()
	case C64:
		return reflect.TypeFor[complex64]()
	case F64:
		return reflect.TypeFor[float64]()
	case I64:
		return reflect.TypeFor[int64]()
	case U64:
		return reflect.TypeFor[uint64]()
	}
	return nil
}
