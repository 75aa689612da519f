package dtype

import (
	"errors"
	"strings"
	"testing"
)

// TestLookup checks that Lookup, Parse and String agree on every name, and
// that Lookup takes nothing but the exact header names.
func TestLookup(t *testing.T) {
	for _, d := range All() {
		name := d.String()
		if got := Lookup([]byte(name)); got != d {
			t.Errorf("Lookup(%q) = %v, want %v", name, got, d)
		}
		if got, err := Parse(name); got != d || err != nil {
			t.Errorf("Parse(%q) = %v, %v", name, got, err)
		}
		if d.Bits() == 0 || d.Size()*8 != d.Bits() && d.Size() != 0 {
			t.Errorf("%v: Bits %d, Size %d", d, d.Bits(), d.Size())
		}
	}
	strict := []string{"", "f32", "F32 ", "F8_E4M3FN", "F8_E4M3FNUZX", "DType(0)", "bf16", "float32", "torch.float16"}
	for _, s := range strict {
		if d := Lookup([]byte(s)); d != Invalid {
			t.Errorf("Lookup(%q) = %v, want Invalid", s, d)
		}
	}
	if n := testing.AllocsPerRun(10, func() { Lookup([]byte("F8_E5M2FNUZ")) }); n != 0 {
		t.Errorf("Lookup allocates %v times", n)
	}
}

// spellings lists every spelling Parse accepts besides the header names,
// in lower case and without the "torch." prefix, which TestParse adds.
var spellings = []struct {
	s string
	d DType
}{
	{"bool", BOOL}, {"bool_", BOOL},
	{"u8", U8}, {"uint8", U8}, {"ubyte", U8},
	{"i8", I8}, {"int8", I8},
	{"u16", U16}, {"uint16", U16}, {"ushort", U16},
	{"i16", I16}, {"int16", I16}, {"short", I16},
	{"u32", U32}, {"uint32", U32},
	{"i32", I32}, {"int32", I32}, {"int", I32},
	{"u64", U64}, {"uint64", U64}, {"ulonglong", U64},
	{"i64", I64}, {"int64", I64}, {"long", I64}, {"longlong", I64},
	{"bf16", BF16}, {"bfloat16", BF16},
	{"f16", F16}, {"fp16", F16}, {"float16", F16}, {"half", F16},
	{"f32", F32}, {"fp32", F32}, {"float32", F32}, {"float", F32}, {"single", F32},
	{"f64", F64}, {"fp64", F64}, {"float64", F64}, {"double", F64},
	{"c64", C64}, {"complex64", C64}, {"cfloat", C64},
	{"f8_e4m3", F8_E4M3}, {"f8_e4m3fn", F8_E4M3}, {"fp8_e4m3", F8_E4M3}, {"fp8_e4m3fn", F8_E4M3}, {"float8_e4m3fn", F8_E4M3},
	{"f8_e5m2", F8_E5M2}, {"fp8_e5m2", F8_E5M2}, {"float8_e5m2", F8_E5M2},
	{"f8_e8m0", F8_E8M0}, {"f8_e8m0fnu", F8_E8M0}, {"fp8_e8m0", F8_E8M0}, {"fp8_e8m0fnu", F8_E8M0},
	{"float8_e8m0", F8_E8M0}, {"float8_e8m0fnu", F8_E8M0},
	{"f8_e4m3fnuz", F8_E4M3FNUZ}, {"fp8_e4m3fnuz", F8_E4M3FNUZ}, {"float8_e4m3fnuz", F8_E4M3FNUZ},
	{"f8_e5m2fnuz", F8_E5M2FNUZ}, {"fp8_e5m2fnuz", F8_E5M2FNUZ}, {"float8_e5m2fnuz", F8_E5M2FNUZ},
	{"f6_e2m3", F6_E2M3}, {"fp6_e2m3", F6_E2M3}, {"float6_e2m3fn", F6_E2M3},
	{"f6_e3m2", F6_E3M2}, {"fp6_e3m2", F6_E3M2}, {"float6_e3m2fn", F6_E3M2},
	{"fp4", F4}, {"fp4_e2m1", F4}, {"f4_e2m1", F4}, {"float4_e2m1fn", F4}, {"float4_e2m1fn_x2", F4},
}

// TestParse checks every spelling in lower, upper and mixed case, with and
// without the "torch." prefix, and that every header name is among them
// in lower case, but for "f4", which is ambiguous.
func TestParse(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range spellings {
		seen[c.s] = true
		for _, s := range []string{c.s, strings.ToUpper(c.s), mixedCase(c.s), "torch." + c.s, "Torch." + strings.ToUpper(c.s)} {
			if d, err := Parse(s); d != c.d || err != nil {
				t.Errorf("Parse(%q) = %v, %v; want %v", s, d, err, c.d)
			}
		}
	}
	for _, d := range All() {
		if low := strings.ToLower(d.String()); !seen[low] && d != F4 {
			t.Errorf("header name %v is not accepted in lower case", d)
		}
	}
}

// mixedCase upper-cases every other letter of s.
func mixedCase(s string) string {
	b := []byte(s)
	for i := 0; i < len(b); i += 2 {
		b[i] = strings.ToUpper(string(b[i]))[0]
	}
	return string(b)
}

// TestParseRejects checks that unknown and ambiguous names fail with
// ErrUnknown and a message that names the input and helps.
func TestParseRejects(t *testing.T) {
	for _, c := range []struct{ s, want string }{
		{"", "want a name such as BF16"},
		{"F32 ", "want a name such as BF16"},
		{"float128", "want a name such as BF16"},
		{"complex128", "want a name such as BF16"},
		{"int4", "want a name such as BF16"},
		{"F8_E4M3FNUZX", "want a name such as BF16"},
		{"DType(0)", "want a name such as BF16"},
		{"torch.", "want a name such as BF16"},
		{"np.float32", "want a name such as BF16"},
		{"fp8", "F8_E4M3 (float8_e4m3fn) or F8_E5M2"},
		{"FP8", "F8_E4M3 (float8_e4m3fn) or F8_E5M2"},
		{"torch.float8", "F8_E4M3 (float8_e4m3fn) or F8_E5M2"},
		{"f8", "F8_E4M3 (float8_e4m3fn) or F8_E5M2"},
		{"float8_e4m3", "float8_e4m3 has infinities"},
		{"fp6", "F6_E2M3 (fp6_e2m3) or F6_E3M2"},
		{"f4", "numpy's f4 (float32)"},
		{"torch.F4", "numpy's f4 (float32)"},
		{"byte", "uint8 in PyTorch, int8 in numpy"},
	} {
		d, err := Parse(c.s)
		if !errors.Is(err, ErrUnknown) || d != Invalid {
			t.Errorf("Parse(%q) = %v, %v; want ErrUnknown", c.s, d, err)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, c.want) || !strings.Contains(msg, `"`+c.s+`"`) {
			t.Errorf("Parse(%q): message %q lacks the input or %q", c.s, msg, c.want)
		}
	}
}
