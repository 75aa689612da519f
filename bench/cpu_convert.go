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
	b := newConvertBufs(int(s.o.ConvertSize / 2))
	threads := dedupe(1, s.o.Threads)
	var cs []*contender
	conv := map[int]*contender{}
	plain := map[int]*contender{}
	copies := map[int]*contender{}
	for _, t := range threads {
		conv[t], plain[t], copies[t] = b.contenders(t)
		cs = append(cs, conv[t], plain[t], copies[t])
	}
	if err := interleave(s.o.Rounds, cs...); err != nil {
		return err
	}
	if err := b.check(); err != nil {
		return err
	}
	for _, c := range cs {
		c.fig.Note = "GB/s counts bytes read + written"
		s.add(c.fig)
	}
	for _, t := range threads {
		s.rep.Ratios = append(s.rep.Ratios,
			ratio(fmt.Sprintf("BF16→F32, %d goroutine(s): dtype.Convert / copy() memory bandwidth", t), conv[t].fig, copies[t].fig, 0.7),
			ratio(fmt.Sprintf("BF16→F32, %d goroutine(s): plain loop / copy() memory bandwidth", t), plain[t].fig, copies[t].fig, 0),
			ratio(fmt.Sprintf("BF16→F32, %d goroutine(s): dtype.Convert / plain loop", t), conv[t].fig, plain[t].fig, 0),
		)
	}
	return nil
}

// convertBufs are the convert group's buffers: n bf16 elements in src,
// room for n f32 in dst, and csrc, as large as dst, the source of the
// copy() reference.
type convertBufs struct {
	n              int
	src, dst, csrc []byte
}

// newConvertBufs allocates the buffers for n elements, touched, and fills
// both sources.
func newConvertBufs(n int) *convertBufs {
	bufs := touchedBuffers(3, 4*n)
	b := &convertBufs{n: n, src: bufs[0][:2*n], dst: bufs[1], csrc: bufs[2]}
	FillParallel(b.src, 11, 0, 0)
	FillParallel(b.csrc, 13, 0, 0)
	return b
}

// part returns worker i's element range; parts are whole cache lines.
func (b *convertBufs) part(i, t int) (lo, hi int) {
	per := (b.n/t + 31) &^ 31
	return min(i*per, b.n), min((i+1)*per, b.n)
}

// split returns a run that calls fn on every part from t goroutines.
func (b *convertBufs) split(t int, fn func(lo, hi int) error) func() error {
	return func() error {
		return parallel(t, t, func(_, i int) error { return fn(b.part(i, t)) })
	}
}

// contenders returns dtype's kernel, the plain loop and copy() from t
// goroutines.
func (b *convertBufs) contenders(t int) (conv, plain, copies *contender) {
	n := b.n
	mk := func(impl, name string, bytes int64) *Figure {
		return &Figure{Group: "convert", Impl: impl, Threads: t, Bytes: bytes, Name: name}
	}
	traffic := int64(6 * n)
	conv = &contender{fig: mk("stload", fmt.Sprintf("dtype.Convert BF16→F32 %s → %s, %d goroutine(s)", fmtBytes(int64(2*n)), fmtBytes(int64(4*n)), t), traffic),
		run: b.split(t, func(lo, hi int) error {
			_, err := dtype.Convert(b.dst[4*lo:4*hi], dtype.F32, b.src[2*lo:2*hi], dtype.BF16)
			return err
		})}
	plain = &contender{fig: mk("plain", fmt.Sprintf("plain Go loop BF16→F32, %d goroutine(s)", t), traffic),
		run: b.split(t, func(lo, hi int) error {
			plainBF16ToF32(b.dst[4*lo:4*hi], b.src[2*lo:2*hi])
			return nil
		})}
	copies = &contender{fig: mk("ceiling", fmt.Sprintf("copy() %s, %d goroutine(s) — memory bandwidth", fmtBytes(int64(4*n)), t), int64(8*n)),
		run: b.split(t, func(lo, hi int) error {
			copy(b.dst[4*lo:4*hi], b.csrc[4*lo:4*hi])
			return nil
		})}
	return conv, plain, copies
}

// check compares the kernel's output with the plain loop's once, outside
// the timing: a fast wrong answer must not pass for a result.
func (b *convertBufs) check() error {
	want := make([]byte, 4*1024)
	plainBF16ToF32(want, b.src[:2*1024])
	if _, err := dtype.Convert(b.dst[:4*1024], dtype.F32, b.src[:2*1024], dtype.BF16); err != nil {
		return err
	}
	if string(want) != string(b.dst[:4*1024]) {
		return fmt.Errorf("dtype.Convert BF16→F32 disagrees with the plain loop")
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
