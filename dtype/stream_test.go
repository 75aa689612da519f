package dtype

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"runtime"
	"testing"
	"testing/iotest"
)

// streamPair is a conversion the streaming converters take.
type streamPair struct{ from, to DType }

// streamPairs returns every pair Convert converts, found by asking
// ConvertedSize, and every type to itself.
func streamPairs(t *testing.T) []streamPair {
	var out []streamPair
	for _, from := range All() {
		for _, to := range All() {
			_, err := ConvertedSize(0, from, to)
			_, errW := NewConvertWriter(io.Discard, from, to)
			_, errR := NewConvertReader(bytes.NewReader(nil), from, to)
			ok := err == nil || from == to
			if (errW == nil) != ok || (errR == nil) != ok {
				t.Errorf("%v to %v: Convert %v, writer %v, reader %v", from, to, err, errW, errR)
			}
			if !ok {
				if !errors.Is(errW, ErrUnsupported) || !errors.Is(errR, ErrUnsupported) {
					t.Errorf("%v to %v: writer %v, reader %v; want ErrUnsupported", from, to, errW, errR)
				}
				continue
			}
			out = append(out, streamPair{from, to})
		}
	}
	return out
}

// streamInput returns random source bytes of whole element groups: none,
// one group, a few thousand groups and, for the pairs in largeInput, enough
// groups that the converted bytes fill the writer's buffer several times
// and the source bytes the reader's more than once.
func streamInput(rng *rand.Rand, p streamPair, size int) []byte {
	g := groupBytes(p.from)
	groups := [...]int{0, 1, 2049, 0}[size]
	if size == 3 {
		if !largeInput[p] {
			return nil
		}
		out, _ := ConvertedSize(int64(g), p.from, p.to)
		groups = max(int(3*writeBlock/out), 3*readBlock/(2*g)) + 7
	}
	return randBytes(rng, groups*g)
}

// largeInput are the pairs tested with large inputs: one for each way
// Convert goes (an assembly kernel, its own F64 loop, float32 blocks) and
// for the largest and smallest element groups. The buffer handling does
// not depend on the pair otherwise.
var largeInput = map[streamPair]bool{
	{BF16, F32}: true, {F32, F16}: true, {F64, F32}: true, {F64, F8_E4M3}: true,
	{F6_E3M2, F64}: true, {F4, BF16}: true, {F16, F16}: true,
}

// want converts src in one call.
func want(t *testing.T, p streamPair, src []byte) []byte {
	if p.from == p.to {
		return src
	}
	n, err := ConvertedSize(int64(len(src)), p.from, p.to)
	if err != nil {
		t.Fatal(err)
	}
	dst := make([]byte, n)
	if _, err := Convert(dst, p.to, src, p.from); err != nil {
		t.Fatal(err)
	}
	return dst
}

// cut returns a random length for a write or read of at most n bytes:
// often a few bytes, which split elements and groups, else up to n.
func cut(rng *rand.Rand, n int) int {
	if n == 0 {
		return 0
	}
	if rng.IntN(3) == 0 {
		return rng.IntN(min(n, 40)) + 1
	}
	return rng.IntN(n) + 1
}

// TestConvertWriter writes every pair's input in random pieces, some of
// them empty, through one reused writer, and compares the output with
// Convert's, bit for bit.
func TestConvertWriter(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	var cw ConvertWriter
	var out bytes.Buffer
	for _, p := range streamPairs(t) {
		for size := range 4 {
			src := streamInput(rng, p, size)
			out.Reset()
			if err := cw.Reset(&out, p.from, p.to); err != nil {
				t.Fatal(err)
			}
			for rest := src; len(rest) > 0 || rng.IntN(2) == 0; {
				k := cut(rng, min(len(rest), 3*writeBlock/2))
				if n, err := cw.Write(rest[:k]); n != k || err != nil {
					t.Fatalf("%v to %v: Write = %d, %v; want %d", p.from, p.to, n, err, k)
				}
				rest = rest[k:]
			}
			if err := cw.Close(); err != nil {
				t.Fatalf("%v to %v: Close: %v", p.from, p.to, err)
			}
			if w := want(t, p, src); !bytes.Equal(out.Bytes(), w) {
				t.Errorf("%v to %v, %d bytes: output differs from Convert's at byte %d",
					p.from, p.to, len(src), firstDiff(out.Bytes(), w))
			}
		}
	}
}

// chunkReader reads src in random pieces and has no WriteTo method, so
// that ConvertReader must read it itself.
type chunkReader struct {
	rng *rand.Rand
	src []byte
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.src) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.src[:cut(r.rng, min(len(r.src), len(p)))])
	r.src = r.src[n:]
	if len(r.src) == 0 && r.rng.IntN(2) == 0 {
		return n, io.EOF // data and the end together, as io.Reader allows
	}
	return n, nil
}

// TestConvertReader reads every pair's input through one reused reader:
// from sources that return a byte at a time, random pieces, or have a
// WriteTo method; into buffers of random sizes, some smaller than one
// converted group; and partly with Read, the rest with WriteTo.
func TestConvertReader(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	var cr ConvertReader
	for _, p := range streamPairs(t) {
		for size := range 4 {
			src := streamInput(rng, p, size)
			sources := []io.Reader{&chunkReader{rng, src}, bytes.NewReader(src)}
			if size < 3 {
				sources = append(sources, iotest.OneByteReader(bytes.NewReader(src)))
			}
			for i, r := range sources {
				if err := cr.Reset(r, p.from, p.to); err != nil {
					t.Fatal(err)
				}
				got := readConverted(t, rng, &cr, i == 1)
				if w := want(t, p, src); !bytes.Equal(got, w) {
					t.Errorf("%v to %v, %d bytes, source %d: output differs from Convert's at byte %d",
						p.from, p.to, len(src), i, firstDiff(got, w))
				}
			}
		}
	}
}

// readConverted reads cr to the end with Reads of random sizes and, if
// writeTo is set, stops after a few of them and calls WriteTo.
func readConverted(t *testing.T, rng *rand.Rand, cr *ConvertReader, writeTo bool) []byte {
	t.Helper()
	var out bytes.Buffer
	buf := make([]byte, 2*readBlock)
	for i := 0; ; i++ {
		if writeTo && i == 3 {
			before := out.Len()
			n, err := cr.WriteTo(&out)
			if err != nil || n != int64(out.Len()-before) {
				t.Fatalf("WriteTo = %d, %v; wrote %d", n, err, out.Len()-before)
			}
			if rest, err := cr.Read(buf); rest != 0 || err != io.EOF {
				t.Fatalf("Read after WriteTo = %d, %v; want io.EOF", rest, err)
			}
			return out.Bytes()
		}
		n, err := cr.Read(buf[:cut(rng, len(buf))])
		out.Write(buf[:n])
		if err == io.EOF {
			return out.Bytes()
		}
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
	}
}

// TestConvertTruncated checks that input ending inside an element group
// fails, for the writer at Close and for the reader at the end, whichever
// way it is read.
func TestConvertTruncated(t *testing.T) {
	for _, c := range []struct {
		p streamPair
		n int // source bytes: not a whole number of groups
	}{
		{streamPair{BF16, F32}, 5},
		{streamPair{F64, BF16}, 12},
		{streamPair{F6_E2M3, F32}, 4}, // whole bytes, not a whole group
		{streamPair{F6_E3M2, F16}, 2},
	} {
		src := make([]byte, c.n)
		cw, err := NewConvertWriter(io.Discard, c.p.from, c.p.to)
		if err != nil {
			t.Fatal(err)
		}
		if n, err := cw.Write(src); n != c.n || err != nil {
			t.Fatalf("%v: Write = %d, %v", c.p, n, err)
		}
		if err := cw.Close(); !errors.Is(err, ErrLength) {
			t.Errorf("%v, %d bytes: Close = %v; want ErrLength", c.p, c.n, err)
		}
		cr, _ := NewConvertReader(bytes.NewReader(src), c.p.from, c.p.to)
		if _, err := io.ReadAll(cr); !errors.Is(err, ErrLength) || !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("%v, %d bytes: Read = %v; want ErrLength and io.ErrUnexpectedEOF", c.p, c.n, err)
		}
		for _, r := range []io.Reader{bytes.NewReader(src), iotest.OneByteReader(bytes.NewReader(src))} {
			cr.Reset(r, c.p.from, c.p.to)
			if _, err := cr.WriteTo(io.Discard); !errors.Is(err, ErrLength) {
				t.Errorf("%v, %d bytes: WriteTo = %v; want ErrLength", c.p, c.n, err)
			}
		}
	}
}

// failWriter accepts limit bytes, then fails; short makes it report a
// short write without an error instead.
type failWriter struct {
	limit int
	short bool
}

var errSink = errors.New("sink failed")

func (w *failWriter) Write(p []byte) (int, error) {
	if len(p) <= w.limit {
		w.limit -= len(p)
		return len(p), nil
	}
	n := w.limit
	w.limit = 0
	if w.short {
		return n, nil
	}
	return n, errSink
}

// TestConvertWriterErrors checks that the writer's first error from the
// underlying writer sticks, that a short write is an error, and that
// Write fails after Close until a Reset.
func TestConvertWriterErrors(t *testing.T) {
	src := make([]byte, 3*writeBlock)
	for _, short := range []bool{false, true} {
		want := errSink
		if short {
			want = io.ErrShortWrite
		}
		cw, _ := NewConvertWriter(&failWriter{limit: 1000, short: short}, BF16, F32)
		if n, err := cw.Write(src); n != 0 || !errors.Is(err, want) {
			t.Errorf("Write = %d, %v; want 0, %v", n, err, want)
		}
		if _, err := cw.Write(src[:2]); !errors.Is(err, want) {
			t.Errorf("second Write: %v; want %v", err, want)
		}
		if err := cw.Close(); !errors.Is(err, want) {
			t.Errorf("Close: %v; want %v", err, want)
		}
	}
	var out bytes.Buffer
	cw, _ := NewConvertWriter(&out, F32, BF16)
	cw.Write([]byte{0, 0, 0x80, 0x3f})
	if err := cw.Close(); err != nil || !bytes.Equal(out.Bytes(), []byte{0x80, 0x3f}) {
		t.Fatalf("Close = %v, output % x", err, out.Bytes())
	}
	if _, err := cw.Write(src[:4]); err == nil {
		t.Error("Write after Close succeeded")
	}
	if err := cw.Reset(&out, F8_E4M3, C64); !errors.Is(err, ErrUnsupported) {
		t.Errorf("Reset to F8_E4M3 to C64: %v; want ErrUnsupported", err)
	}
	if _, err := cw.Write(src[:4]); !errors.Is(err, ErrUnsupported) {
		t.Errorf("Write after a failed Reset: %v; want ErrUnsupported", err)
	}
}

// TestConvertNoCopy checks that WriteTo takes the bytes of a source that
// has a WriteTo method from it, with no buffer of the reader's own, and
// that reused converters do not allocate per call.
func TestConvertNoCopy(t *testing.T) {
	src := weights(200_000, BF16)
	cr, _ := NewConvertReader(bytes.NewReader(src), BF16, F32)
	if _, err := cr.WriteTo(io.Discard); err != nil {
		t.Fatal(err)
	}
	if cr.buf != nil {
		t.Errorf("WriteTo from a bytes.Reader read %d bytes of buffer", len(cr.buf))
	}
	var cw ConvertWriter
	allocs := testing.AllocsPerRun(20, func() {
		cw.Reset(io.Discard, BF16, F16)
		cw.Write(src[:1001])
		cw.Write(src[1001:])
		cw.Close()
	})
	if allocs != 0 {
		t.Errorf("a reused ConvertWriter allocates %v times per tensor", allocs)
	}
	dst := make([]byte, 2*len(src))
	r := bytes.NewReader(src)
	allocs = testing.AllocsPerRun(20, func() {
		r.Reset(src)
		cr.Reset(r, BF16, F32)
		if _, err := io.ReadFull(cr, dst); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("a reused ConvertReader allocates %v times per tensor", allocs)
	}
}

// stuckReader returns nothing, forever.
type stuckReader struct{}

func (stuckReader) Read([]byte) (int, error) { return 0, nil }

// TestConvertReaderErrors checks that a failed Reset leaves a reader that
// fails without panicking, and that a source that returns nothing is
// given up on.
func TestConvertReaderErrors(t *testing.T) {
	var cr ConvertReader
	for _, p := range []streamPair{{F8_E4M3, C64}, {Invalid, Invalid}, {I32, F32}, {F32, F4}} {
		if err := cr.Reset(bytes.NewReader(make([]byte, 64)), p.from, p.to); !errors.Is(err, ErrUnsupported) {
			t.Errorf("Reset(%v, %v) = %v; want ErrUnsupported", p.from, p.to, err)
		}
		if n, err := cr.Read(make([]byte, 64)); n != 0 || !errors.Is(err, ErrUnsupported) {
			t.Errorf("%v to %v: Read = %d, %v; want ErrUnsupported", p.from, p.to, n, err)
		}
		if n, err := cr.WriteTo(io.Discard); n != 0 || !errors.Is(err, ErrUnsupported) {
			t.Errorf("%v to %v: WriteTo = %d, %v; want ErrUnsupported", p.from, p.to, n, err)
		}
	}
	cr.Reset(stuckReader{}, BF16, F32)
	if _, err := cr.Read(make([]byte, 64)); err != io.ErrNoProgress {
		t.Errorf("Read from a stuck source: %v; want io.ErrNoProgress", err)
	}
}

// TestConvertSmall: converting a tiny tensor through WriteTo, as the
// checkpoint writers do, allocates about its size, not a fixed block: a
// checkpoint of a million such tensors is converted one reader at a time.
func TestConvertSmall(t *testing.T) {
	src := []byte{0, 0, 0x80, 0x3f} // 1.0 as F32
	var out bytes.Buffer
	out.Grow(64)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 100 {
		out.Reset()
		r, err := NewConvertReader(bytes.NewReader(src), F32, F16)
		if err != nil {
			t.Fatal(err)
		}
		r.WriteTo(&out)
	}
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / 100; per > 1024 || !bytes.Equal(out.Bytes(), []byte{0, 0x3c}) {
		t.Errorf("%d bytes allocated to convert one element to %x", per, out.Bytes())
	}
}
