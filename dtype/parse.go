package dtype

import (
	"fmt"
	"strings"
)

// Parse returns the element type that s names. Besides the header names
// that [Lookup] reads ("BF16", "F8_E4M3", ...), it accepts, ignoring case
// and an optional "torch." prefix:
//
//   - the header names in any case: "bf16", "f32", "f8_e4m3", "u8", ...;
//   - PyTorch's dtype names and aliases: "bfloat16", "float16", "half",
//     "float32", "float", "float64", "double", "int8" ... "uint64",
//     "short", "int" (int32), "long" (int64), "bool", "complex64",
//     "cfloat", "float8_e4m3fn", "float8_e5m2", "float8_e8m0fnu",
//     "float8_e4m3fnuz", "float8_e5m2fnuz", "float4_e2m1fn_x2";
//   - the usual short forms: "fp16", "fp32", "fp64", "fp8_e4m3",
//     "fp8_e5m2", "fp4", "fp6_e2m3", "fp6_e3m2";
//   - the ml_dtypes and numpy names that mean the same type here:
//     "float4_e2m1fn", "float6_e2m3fn", "float6_e3m2fn", "float8_e8m0",
//     "single", "ubyte", "ushort", "longlong", "ulonglong", "bool_".
//
// Where a name means different types in different tools it follows
// PyTorch ("float" is F32, "int" I32), and a name that stays ambiguous
// fails: "fp8" (E4M3 or E5M2?), "fp6", "float8_e4m3" (ml_dtypes' variant
// with infinities, not F8_E4M3), "byte" (uint8 in PyTorch, int8 in numpy)
// and lower-case "f4" (FP4, or numpy's float32). Every failure wraps
// [ErrUnknown] and its message says what was meant or what is accepted.
func Parse(s string) (DType, error) {
	if d := Lookup([]byte(s)); d != Invalid {
		return d, nil
	}
	name := strings.TrimPrefix(strings.ToLower(s), "torch.")
	d, hint := alias(name)
	if d != Invalid {
		return d, nil
	}
	if hint == "" {
		hint = "want a name such as BF16, F16, F32, F8_E4M3, bf16, fp16, float32 or torch.bfloat16"
	}
	return Invalid, fmt.Errorf("%w: %q: %s", ErrUnknown, s, hint)
}

// alias returns the type that the lower-case spelling s names, or Invalid
// and, where s could mean more than one type, a hint that says which.
func alias(s string) (d DType, hint string) {
	switch s {
	case "bool", "bool_":
		return BOOL, ""
	case "u8", "uint8", "ubyte":
		return U8, ""
	case "i8", "int8":
		return I8, ""
	case "u16", "uint16", "ushort":
		return U16, ""
	case "i16", "int16", "short":
		return I16, ""
	case "u32", "uint32":
		return U32, ""
	case "i32", "int32", "int":
		return I32, ""
	case "u64", "uint64", "ulonglong":
		return U64, ""
	case "i64", "int64", "long", "longlong":
		return I64, ""
	case "bf16", "bfloat16":
		return BF16, ""
	case "f16", "fp16", "float16", "half":
		return F16, ""
	case "f32", "fp32", "float32", "float", "single":
		return F32, ""
	case "f64", "fp64", "float64", "double":
		return F64, ""
	case "c64", "complex64", "cfloat":
		return C64, ""
	}
	return aliasMini(s)
}

// aliasMini is alias for the 8-, 6- and 4-bit floating types, whose names
// differ most between tools.
func aliasMini(s string) (d DType, hint string) {
	switch s {
	case "f8_e4m3", "f8_e4m3fn", "fp8_e4m3", "fp8_e4m3fn", "float8_e4m3fn":
		return F8_E4M3, ""
	case "f8_e5m2", "fp8_e5m2", "float8_e5m2":
		return F8_E5M2, ""
	case "f8_e8m0", "f8_e8m0fnu", "fp8_e8m0", "fp8_e8m0fnu", "float8_e8m0", "float8_e8m0fnu":
		return F8_E8M0, ""
	case "f8_e4m3fnuz", "fp8_e4m3fnuz", "float8_e4m3fnuz":
		return F8_E4M3FNUZ, ""
	case "f8_e5m2fnuz", "fp8_e5m2fnuz", "float8_e5m2fnuz":
		return F8_E5M2FNUZ, ""
	case "f6_e2m3", "fp6_e2m3", "float6_e2m3fn":
		return F6_E2M3, ""
	case "f6_e3m2", "fp6_e3m2", "float6_e3m2fn":
		return F6_E3M2, ""
	case "fp4", "fp4_e2m1", "f4_e2m1", "float4_e2m1fn", "float4_e2m1fn_x2":
		return F4, ""
	case "fp8", "f8", "float8":
		return Invalid, "ambiguous: F8_E4M3 (float8_e4m3fn) or F8_E5M2 (float8_e5m2)?"
	case "float8_e4m3":
		return Invalid, "ambiguous: ml_dtypes' float8_e4m3 has infinities; F8_E4M3 is float8_e4m3fn"
	case "fp6", "f6", "float6":
		return Invalid, "ambiguous: F6_E2M3 (fp6_e2m3) or F6_E3M2 (fp6_e3m2)?"
	case "f4":
		return Invalid, "ambiguous: F4 (fp4, float4_e2m1fn_x2) or numpy's f4 (float32)? write F4, fp4 or f32"
	case "byte":
		return Invalid, "ambiguous: uint8 in PyTorch, int8 in numpy"
	}
	return Invalid, ""
}
