package device

import (
	"bytes"
	"crypto/sha256"
	"math/rand/v2"
	"testing"

	"github.com/stload/stload/dtype"
)

// TestConvertWriter hashes conversions written in pieces that split element
// groups (F6 packs 4 elements in 3 bytes), through an out buffer that holds
// a few groups, and compares with converting all at once.
func TestConvertWriter(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, tt := range []struct{ from, to dtype.DType }{
		{dtype.F6_E2M3, dtype.F32}, {dtype.F4, dtype.BF16}, {dtype.BF16, dtype.F32}, {dtype.F32, dtype.F16}, {dtype.F16, dtype.F16},
	} {
		src := randomBytes(r, 3*4*100) // whole groups of every type here
		size, err := dtype.ConvertedSize(int64(len(src)), tt.from, tt.to)
		if err != nil {
			t.Fatal(err)
		}
		all := make([]byte, size)
		if _, err := dtype.Convert(all, tt.to, src, tt.from); err != nil {
			t.Fatal(err)
		}
		want := sha256.Sum256(all)
		for _, outLen := range []int{1, 40, 1 << 10} {
			h := sha256.New()
			w := newConvertWriter(h, tt.from, tt.to, make([]byte, max(outLen, int(stagedUnit(tt.from, tt.to)))))
			for p := src; len(p) > 0; {
				k := min(len(p), 1+r.IntN(17))
				if n, err := w.Write(p[:k]); n != k || err != nil {
					t.Fatalf("%v to %v: Write = %d, %v", tt.from, tt.to, n, err)
				}
				p = p[k:]
			}
			if err := w.close(); err != nil {
				t.Fatal(err)
			}
			if got := h.Sum(nil); !bytes.Equal(got, want[:]) {
				t.Errorf("%v to %v, out of %d bytes: hash differs", tt.from, tt.to, outLen)
			}
		}
	}
	w := newConvertWriter(sha256.New(), dtype.F6_E2M3, dtype.F32, make([]byte, 64))
	w.Write([]byte{1, 2})
	if w.close() == nil {
		t.Error("close accepted a partial element group")
	}
}
