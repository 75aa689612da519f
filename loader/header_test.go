package loader

import (
	"math/rand/v2"
	"testing"
)

// TestScan compares the eight-bytes-at-a-time string scan with a byte at
// a time, on strings of every byte value with the special bytes at every
// position.
func TestScan(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5))
	naive := func(b []byte, i int) int {
		for i < len(b) && !special[b[i]] {
			i++
		}
		return i
	}
	for range 200_000 {
		b := make([]byte, r.IntN(40))
		for i := range b {
			b[i] = byte(0x20 + r.IntN(0xe0)) // no special bytes but '"' and '\\'
			if b[i] == '"' || b[i] == '\\' {
				b[i] = 'a'
			}
		}
		for range r.IntN(3) {
			if len(b) > 0 {
				b[r.IntN(len(b))] = []byte{0, 0x1f, '"', '\\', 0x0a}[r.IntN(5)]
			}
		}
		start := 0
		if len(b) > 0 {
			start = r.IntN(len(b))
		}
		p := &parser{b: b}
		if got, want := p.scan(start), naive(b, start); got != want {
			t.Fatalf("scan(%q, %d) = %d, want %d", b, start, got, want)
		}
	}
}
