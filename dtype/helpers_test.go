package dtype

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
)

func randBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

func float32frombytes(b []byte) float32 {
	return math.Float32frombits(binary.LittleEndian.Uint32(b))
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	if len(a) != len(b) {
		return min(len(a), len(b))
	}
	return -1
}

// f32Boundaries returns little-endian float32 values around every place
// where rounding to bfloat16 or half changes: each combination of the top
// 20 bits with low bits just below, at and above the halfway points.
func f32Boundaries() []byte {
	lows := []uint32{0, 1, 0x7fff, 0x8000, 0x8001, 0xfff, 0x1000, 0x1001, 0xffff}
	out := make([]byte, 0, 4*len(lows)<<16)
	for hi := uint32(0); hi < 1<<16; hi++ {
		for _, lo := range lows {
			u := hi<<16 | lo
			out = append(out, byte(u), byte(u>>8), byte(u>>16), byte(u>>24))
		}
	}
	return out
}
