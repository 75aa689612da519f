package dtype

import (
	"errors"
	"testing"
)

// TestLookup checks that Lookup, Parse and String agree on every name, and
// that near misses are rejected.
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
	for _, s := range []string{"", "f32", "F32 ", "F8_E4M3FN", "F8_E4M3FNUZX", "DType(0)"} {
		if d := Lookup([]byte(s)); d != Invalid {
			t.Errorf("Lookup(%q) = %v, want Invalid", s, d)
		}
		if _, err := Parse(s); !errors.Is(err, ErrUnknown) {
			t.Errorf("Parse(%q): error %v, want ErrUnknown", s, err)
		}
	}
	if n := testing.AllocsPerRun(10, func() { Lookup([]byte("F8_E5M2FNUZ")) }); n != 0 {
		t.Errorf("Lookup allocates %v times", n)
	}
}
