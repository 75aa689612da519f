package bench

import (
	"encoding/binary"
	"fmt"

	"github.com/stload/stload/dtype"
)

// plainBF16ToF32 is the loop a user writes without a conversion library:
// one element at a time, each bfloat16 moved to the top half of a float32.
func plainBF16ToF32(dst, src []byte) {
	for i := range len(src) / 2 {
		binary.LittleEndian.PutUint32(dst[4*i:], uint32(binary.LittleEndian.Uint16(src[2*i:]))<<16)
	}
}

// convert times BF16→F32 of a buffer far larger than the caches: dtype's
// kernel, the plain loop, and copy() as the memory-bandwidth reference,
// from one and from all goroutines. Every rate here counts bytes read plus
// bytes written (6 per element for the conversion, 2 per byte for copy),
// so "fraction of memory bandwidth" compares like with like.
func (s *cpuSuite) convert() error {
	n := int(s.o.ConvertSize / 2) // elements
	bufs := touchedBuffers(3, 4*n)
	src, dst, csrc := bufs[0][:2*n], bufs[1], bufs[2]
	FillParallel(src, 11, 0, 0)
	FillParallel(csrc, 13, 0, 0)
	T := s.o.Threads
	// part returns worker i's element range; parts are whole cache lines.
	part := func(i, t int) (lo, hi int) {
		per := (n/t + 31) &^ 31
		return min(i*per, n), min((i+1)*per, n)
	}
	mk := func(impl, name string, t int, bytes int64) *Figure {
		return &Figure{Group: "convert", Impl: impl, Threads: t, Bytes: bytes, Name: name}
	}
	traffic := int64(6 * n)
	var cs []*contender
	conv := map[int]*contender{}
	plain := map[int]*contender{}
	copies := map[int]*contender{}
	for _, t := range dedupe(1, T) {
		conv[t] = &contender{fig: mk("stload", fmt.Sprintf("dtype.Convert BF16→F32 %s → %s, %d goroutine(s)", fmtBytes(int64(2*n)), fmtBytes(int64(4*n)), t), t, traffic),
			run: func() error {
				return parallel(t, t, func(_, i int) error {
					lo, hi := part(i, t)
					_, err := dtype.Convert(dst[4*lo:4*hi], dtype.F32, src[2*lo:2*hi], dtype.BF16)
					return err
				})
			}}
		plain[t] = &contender{fig: mk("plain", fmt.Sprintf("plain Go loop BF16→F32, %d goroutine(s)", t), t, traffic),
			run: func() error {
				return parallel(t, t, func(_, i int) error {
					lo, hi := part(i, t)
					plainBF16ToF32(dst[4*lo:4*hi], src[2*lo:2*hi])
					return nil
				})
			}}
		copies[t] = &contender{fig: mk("ceiling", fmt.Sprintf("copy() %s, %d goroutine(s) — memory bandwidth", fmtBytes(int64(4*n)), t), t, int64(8*n)),
			run: func() error {
				return parallel(t, t, func(_, i int) error {
					lo, hi := part(i, t)
					copy(dst[4*lo:4*hi], csrc[4*lo:4*hi])
					return nil
				})
			}}
		cs = append(cs, conv[t], plain[t], copies[t])
	}
	if err := interleave(s.o.Rounds, cs...); err != nil {
		return err
	}
	// Check the kernel's output against the plain loop once, outside the
	// timing: a fast wrong answer must not pass for a result.
	want := make([]byte, 4*1024)
	plainBF16ToF32(want, src[:2*1024])
	if _, err := dtype.Convert(dst[:4*1024], dtype.F32, src[:2*1024], dtype.BF16); err != nil {
		return err
	}
	if string(want) != string(dst[:4*1024]) {
		return fmt.Errorf("dtype.Convert BF16→F32 disagrees with the plain loop")
	}
	for _, c := range cs {
		c.fig.Note = "GB/s counts bytes read + written"
		s.add(c.fig)
	}
	for _, t := range dedupe(1, T) {
		s.rep.Ratios = append(s.rep.Ratios,
			ratio(fmt.Sprintf("BF16→F32, %d goroutine(s): dtype.Convert / copy() memory bandwidth", t), conv[t].fig, copies[t].fig, 0.7),
			ratio(fmt.Sprintf("BF16→F32, %d goroutine(s): plain loop / copy() memory bandwidth", t), plain[t].fig, copies[t].fig, 0),
			ratio(fmt.Sprintf("BF16→F32, %d goroutine(s): dtype.Convert / plain loop", t), conv[t].fig, plain[t].fig, 0),
		)
	}
	return nil
}

// dedupe returns its arguments without repeats, in order.
func dedupe(xs ...int) []int {
	var out []int
	for _, x := range xs {
		seen := false
		for _, y := range out {
			seen = seen || x == y
		}
		if !seen {
			out = append(out, x)
		}
	}
	return out
}
