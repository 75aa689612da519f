package dtype

import (
	"encoding/binary"
	"flag"
	"math"
	"sync"
	"testing"

	"github.com/x448/float16"
)

var exhaustive = flag.Bool("exhaustive", false, "check all 2**32 float32 inputs of the F16 and BF16 encoders (a minute or two)")

// TestExhaustiveF32Encoders encodes every float32 bit pattern to half and
// bfloat16 through the slice kernels (assembly where present) and compares
// with x448/float16 and with the scalar bfloat16 rounding written out in
// float64: the float32 value ±(m·2**e) rounds at bit 16.
func TestExhaustiveF32Encoders(t *testing.T) {
	if !*exhaustive {
		t.Skip("run with -exhaustive")
	}
	const chunk = 1 << 16
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Go(func() {
			src := make([]byte, 4*chunk)
			h, b := make([]byte, 2*chunk), make([]byte, 2*chunk)
			for hi := uint32(w); hi < 1<<16; hi += 2 {
				for i := range uint32(chunk) {
					binary.LittleEndian.PutUint32(src[4*i:], hi<<16|i)
				}
				cvtF32ToF16(h, src)
				cvtF32ToBF16(b, src)
				for i := range uint32(chunk) {
					u := hi<<16 | i
					f := math.Float32frombits(u)
					if got, want := binary.LittleEndian.Uint16(h[2*i:]), float16.Fromfloat32(f).Bits(); got != want {
						t.Errorf("F16(%#08x) = %#04x, x448 %#04x", u, got, want)
						return
					}
					if got, want := binary.LittleEndian.Uint16(b[2*i:]), refBF16Bits(u); got != want {
						t.Errorf("BF16(%#08x) = %#04x, want %#04x", u, got, want)
						return
					}
				}
			}
		})
	}
	wg.Wait()
}

// refBF16Bits rounds the float32 with bits u to bfloat16 by comparing the
// dropped half with one half, as the definition of ties to even reads.
func refBF16Bits(u uint32) uint16 {
	if u&0x7fffffff > 0x7f800000 {
		return uint16(u>>16) | 0x40
	}
	keep, drop := u>>16, u&0xffff
	if drop > 0x8000 || drop == 0x8000 && keep&1 == 1 {
		keep++
	}
	return uint16(keep)
}
