package bench

import (
	"encoding/binary"
	"math/bits"
	"runtime"
	"sync"
)

// The wyrand constants. wyrand is one of the fastest generators whose
// output passes BigCrush, and in its counter form every 8-byte word is an
// independent function of (seed, index), so any goroutine can fill any
// range and the bytes still come out the same.
const (
	wyInc = 0xa0761d6478bd642f
	wyXor = 0xe7037ed1a0b428db
)

func wymix(x uint64) uint64 {
	hi, lo := bits.Mul64(x, x^wyXor)
	return hi ^ lo
}

// Fill fills b with pseudo-random bytes. The 8 bytes at b[8i:] are the
// little-endian word number first+i of the stream named by seed, so a
// file's bytes depend only on the seed and their offset. A trailing
// partial word gets the first bytes of its word.
func Fill(b []byte, seed, first uint64) {
	inc := uint64(wyInc) // a variable: multiples of it wrap, as they must
	x := seed + first*inc
	// Four independent words per iteration: the multiplies overlap in the
	// pipeline instead of waiting on each other, which roughly doubles the
	// rate of a one-word loop.
	for len(b) >= 32 {
		x1, x2, x3, x4 := x+inc, x+2*inc, x+3*inc, x+4*inc
		binary.LittleEndian.PutUint64(b[0:], wymix(x1))
		binary.LittleEndian.PutUint64(b[8:], wymix(x2))
		binary.LittleEndian.PutUint64(b[16:], wymix(x3))
		binary.LittleEndian.PutUint64(b[24:], wymix(x4))
		x, b = x4, b[32:]
	}
	for len(b) >= 8 {
		x += wyInc
		binary.LittleEndian.PutUint64(b, wymix(x))
		b = b[8:]
	}
	if len(b) > 0 {
		var w [8]byte
		binary.LittleEndian.PutUint64(w[:], wymix(x+wyInc))
		copy(b, w[:])
	}
}

// FillParallel is [Fill] split across workers goroutines (all CPUs when
// workers < 1), for buffers too large to fill quickly on one core.
func FillParallel(b []byte, seed, first uint64, workers int) {
	if workers < 1 {
		workers = runtime.GOMAXPROCS(0)
	}
	const piece = 4 << 20
	var wg sync.WaitGroup
	next := make(chan int, workers)
	for range workers {
		wg.Go(func() {
			for off := range next {
				end := min(off+piece, len(b))
				Fill(b[off:end], seed, first+uint64(off/8))
			}
		})
	}
	for off := 0; off < len(b); off += piece {
		next <- off
	}
	close(next)
	wg.Wait()
}

// touch writes one byte per 4 KiB page of b, so that the kernel (and on a
// lazily backed VM, the hypervisor) has given every page before a timed
// window starts.
func touch(b []byte) {
	for i := 0; i < len(b); i += 4096 {
		b[i] = 1
	}
}

// readTouch reads one byte per 4 KiB page of b and returns their sum (so
// the compiler keeps the loads): the cheapest access that proves every page
// is mapped.
func readTouch(b []byte) byte {
	var s byte
	for i := 0; i < len(b); i += 4096 {
		s += b[i]
	}
	return s
}
