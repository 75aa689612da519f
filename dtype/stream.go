package dtype

import (
	"errors"
	"fmt"
	"io"
)

const (
	// writeBlock bounds the converted bytes a ConvertWriter holds: small
	// enough to stay in the L2 cache between the conversion and the
	// consumer that reads them again (a hash, a file write), and below the
	// size from which the kernels store around the cache; large enough
	// that a write per block costs little. BenchmarkStream chose it over
	// 128 and 256 KiB.
	writeBlock = 512 << 10

	// readBlock bounds the source bytes a ConvertReader reads at a time.
	// Read converts them into the caller's buffer, usually a large one in
	// memory, so a block is large enough to make the kernels store around
	// the cache, as [Convert] on a whole tensor would.
	readBlock = 1 << 20
)

// groupBytes returns the fewest bytes that hold whole elements of d: one
// byte (two elements) for F4, three (four elements) for the F6 types, else
// one element.
func groupBytes(d DType) int {
	switch d.Bits() {
	case 4:
		return 1
	case 6:
		return 3
	}
	return d.Size()
}

// A ConvertWriter converts the elements written to it from one type to
// another and writes the result to an underlying writer. Writes may split
// elements, and element groups of the sub-byte types, anywhere: the bytes
// of a group split between two writes are carried over. The converted
// bytes are gathered in a buffer of up to 512 KiB, which is written to the
// underlying writer when full and by Close; so the conversion adds no copy
// of its own, and a ConvertWriter reused with Reset allocates nothing.
//
// Values are converted exactly as [Convert] converts them.
type ConvertWriter struct {
	w        io.Writer
	from, to DType
	inUnit   int     // source bytes of one element group
	outUnit  int     // its converted bytes
	part     [8]byte // source bytes of a group split between writes
	npart    int
	buf      []byte // converted bytes; buf[:nbuf] not yet written
	nbuf     int
	written  int64 // bytes written to w
	err      error // sticky: the first error from w, or of Close
	closed   bool
}

// NewConvertWriter returns a ConvertWriter that writes the elements of type
// from written to it, converted to type to, to w. It fails with
// [ErrUnsupported] for a pair that [Convert] does not convert; from == to
// is allowed for any type and writes straight through.
func NewConvertWriter(w io.Writer, from, to DType) (*ConvertWriter, error) {
	c := new(ConvertWriter)
	if err := c.Reset(w, from, to); err != nil {
		return nil, err
	}
	return c, nil
}

// Reset discards c's state and makes it convert from type from to type to
// into w, keeping its buffer. It fails as [NewConvertWriter] does, leaving
// c unusable until a Reset succeeds.
func (c *ConvertWriter) Reset(w io.Writer, from, to DType) error {
	in, out, err := units(from, to)
	*c = ConvertWriter{w: w, from: from, to: to, inUnit: in, outUnit: out, buf: c.buf[:cap(c.buf)], err: err}
	return err
}

// units returns the source and converted bytes of one element group of a
// conversion, or an error for a pair Convert does not handle.
func units(from, to DType) (in, out int, err error) {
	if from == to && from.Valid() {
		return 1, 1, nil
	}
	in = groupBytes(from)
	o, err := ConvertedSize(int64(in), from, to)
	return in, int(o), err
}

// Write converts p and returns len(p), or 0 and the first error writing
// to the underlying writer, which every later call returns too.
func (c *ConvertWriter) Write(p []byte) (int, error) {
	if c.closed {
		return 0, errClosed
	}
	if c.err != nil {
		return 0, c.err
	}
	if c.from == c.to {
		n, err := c.w.Write(p)
		c.written += int64(n)
		c.err = err
		return n, err
	}
	n := len(p)
	if c.npart > 0 { // complete the group split by the last write
		k := copy(c.part[c.npart:c.inUnit], p)
		c.npart += k
		p = p[k:]
		if c.npart < c.inUnit {
			return n, nil
		}
		c.npart = 0
		if err := c.convert(c.part[:c.inUnit]); err != nil {
			return 0, err
		}
	}
	whole := len(p) - len(p)%c.inUnit
	if err := c.convert(p[:whole]); err != nil {
		return 0, err
	}
	c.npart = copy(c.part[:], p[whole:])
	return n, nil
}

// convert converts src, whole element groups, into the buffer, writing it
// out each time it is full.
func (c *ConvertWriter) convert(src []byte) error {
	for len(src) > 0 {
		if len(c.buf)-c.nbuf < c.outUnit {
			if err := c.flush(); err != nil {
				return err
			}
			c.buf = growBuf(c.buf, 0, len(src)/c.inUnit*c.outUnit, c.outUnit, writeBlock)
		}
		k := min(len(src), (len(c.buf)-c.nbuf)/c.outUnit*c.inUnit)
		// Cannot fail: the types were checked by Reset, and src and the
		// room in buf hold whole groups.
		m, _ := Convert(c.buf[c.nbuf:], c.to, src[:k], c.from)
		c.nbuf += m
		src = src[k:]
	}
	return nil
}

// flush writes the buffered bytes.
func (c *ConvertWriter) flush() error {
	if c.nbuf == 0 {
		return nil
	}
	n, err := c.w.Write(c.buf[:c.nbuf])
	c.written += int64(n)
	if err == nil && n < c.nbuf {
		err = io.ErrShortWrite
	}
	c.nbuf = 0
	c.err = err
	return err
}

// Close writes what is buffered. It fails with [ErrLength] when the bytes
// written end inside an element group: within an element or, for F4 and
// F6, within the byte pair or triple that a whole tensor never ends in. It
// does not close the underlying writer. After Close, Write fails until a
// Reset.
func (c *ConvertWriter) Close() error {
	if c.closed {
		return c.err
	}
	c.closed = true
	if c.err != nil {
		return c.err
	}
	if err := c.flush(); err != nil {
		return err
	}
	if c.npart > 0 {
		c.err = fmt.Errorf("%w: the %v data ends %d bytes into a %d-byte element group", ErrLength, c.from, c.npart, c.inUnit)
	}
	return c.err
}

// errClosed is what a ConvertWriter's Write returns after Close.
var errClosed = errors.New("dtype: write to a closed ConvertWriter")

// A ConvertReader reads elements of one type from an underlying reader and
// returns them converted to another. Read converts straight into the
// caller's buffer from source bytes it reads into a buffer of its own, of
// up to 1 MiB. WriteTo, which io.Copy uses, converts through a
// [ConvertWriter] and, when the underlying reader is an [io.WriterTo] (a
// [bytes.Reader], or a reader of a memory-mapped file that writes from the
// mapping), takes the source bytes from it without reading them into a
// buffer first. A ConvertReader reused with Reset allocates nothing.
//
// Values are converted exactly as [Convert] converts them.
type ConvertReader struct {
	r        io.Reader
	from, to DType
	inUnit   int    // source bytes of one element group
	outUnit  int    // its converted bytes
	buf      []byte // source bytes read; buf[lo:hi] not yet converted
	lo, hi   int
	spill    [32]byte // one converted group too large for a caller's buffer
	spillLo  int      // spill[spillLo:spillHi] not yet returned
	spillHi  int
	err      error // from r (io.EOF included) or Reset; returned once buf is used up
	cw       ConvertWriter
}

// NewConvertReader returns a ConvertReader that reads elements of type from
// from r and returns them converted to type to. It fails with
// [ErrUnsupported] for a pair that [Convert] does not convert; from == to
// is allowed for any type and reads straight through.
func NewConvertReader(r io.Reader, from, to DType) (*ConvertReader, error) {
	c := new(ConvertReader)
	if err := c.Reset(r, from, to); err != nil {
		return nil, err
	}
	return c, nil
}

// Reset discards c's state and makes it read from r, converting from type
// from to type to, keeping its buffers. It fails as [NewConvertReader]
// does, leaving c unusable until a Reset succeeds.
func (c *ConvertReader) Reset(r io.Reader, from, to DType) error {
	in, out, err := units(from, to)
	c.r, c.from, c.to, c.inUnit, c.outUnit, c.err = r, from, to, in, out, err
	c.lo, c.hi, c.spillLo, c.spillHi = 0, 0, 0, 0
	return err
}

// Read reads converted elements into p. At the end of the underlying
// reader it returns io.EOF, or an error wrapping [ErrLength] and
// io.ErrUnexpectedEOF when the source ends inside an element group.
func (c *ConvertReader) Read(p []byte) (int, error) {
	if c.spillLo < c.spillHi {
		n := copy(p, c.spill[c.spillLo:c.spillHi])
		c.spillLo += n
		return n, nil
	}
	switch {
	case c.outUnit == 0: // Reset failed
		return 0, c.err
	case c.from == c.to && c.err == nil:
		return c.r.Read(p)
	case len(p) == 0:
		return 0, nil
	}
	if err := c.fill(max(len(p)/c.outUnit, 1) * c.inUnit); err != nil {
		return 0, err
	}
	if len(p) < c.outUnit { // convert one group aside, return it in pieces
		m, _ := Convert(c.spill[:], c.to, c.buf[c.lo:c.lo+c.inUnit], c.from)
		c.lo += c.inUnit
		c.spillLo, c.spillHi = copy(p, c.spill[:m]), m
		return c.spillLo, nil
	}
	k := min(c.hi-c.lo, len(p)/c.outUnit*c.inUnit)
	k -= k % c.inUnit
	n, _ := Convert(p, c.to, c.buf[c.lo:c.lo+k], c.from)
	c.lo += k
	return n, nil
}

// fill reads from r until at least one element group is buffered, asking
// for want source bytes in all (a multiple of inUnit), as far as the buffer
// holds them.
func (c *ConvertReader) fill(want int) error {
	for empty := 0; c.hi-c.lo < c.inUnit; empty++ {
		switch {
		case c.err == io.EOF && c.hi > c.lo:
			return fmt.Errorf("%w: the %v data ends %d bytes into a %d-byte element group: %w",
				ErrLength, c.from, c.hi-c.lo, c.inUnit, io.ErrUnexpectedEOF)
		case c.err != nil:
			return c.err
		case empty == 100: // as bufio gives up on a reader that returns nothing
			return io.ErrNoProgress
		}
		c.hi = copy(c.buf, c.buf[c.lo:c.hi]) // less than a group
		c.lo = 0
		if len(c.buf) < want {
			c.buf = growBuf(c.buf, c.hi, want, c.inUnit, readBlock)
		}
		n, err := c.r.Read(c.buf[c.hi:min(len(c.buf), want)])
		c.hi += n
		c.err = err
	}
	return nil
}

// growBuf returns b grown towards need bytes, a multiple of unit, keeping
// b[:keep]: to need (at least minBuf), doubling, up to limit, so that
// small tensors take little memory and a reused converter allocates only
// while it first grows. (A floor of 4 KiB made converting a checkpoint of
// a million 2-byte tensors allocate 4 GB.)
// minBuf is the smallest buffer growBuf makes.
const minBuf = 64

func growBuf(b []byte, keep, need, unit, limit int) []byte {
	size := min(limit, max(need, 2*len(b), minBuf, unit))
	size -= size % unit
	switch {
	case size <= len(b):
		return b
	case size <= cap(b):
		return b[:size]
	}
	nb := make([]byte, size)
	copy(nb, b[:keep])
	return nb
}

// WriteTo writes the converted elements to w until the underlying reader
// ends, and returns the number of bytes written. It fails as Read does
// when the source ends inside an element group.
func (c *ConvertReader) WriteTo(w io.Writer) (int64, error) {
	var n int64
	if c.spillLo < c.spillHi {
		m, err := w.Write(c.spill[c.spillLo:c.spillHi])
		c.spillLo += m
		n += int64(m)
		if err != nil {
			return n, err
		}
	}
	switch {
	case c.err != nil && c.err != io.EOF:
		return n, c.err
	case c.from == c.to && c.err == nil:
		m, err := io.Copy(w, c.r)
		return n + m, err
	}
	cw := &c.cw
	cw.Reset(w, c.from, c.to)
	_, err := cw.Write(c.buf[c.lo:c.hi])
	c.lo, c.hi = 0, 0
	if err == nil && c.err == nil {
		err = c.drain(cw)
	}
	if cerr := cw.Close(); err == nil {
		err = cerr
	}
	return n + cw.written, err
}

// drain writes the rest of the underlying reader to cw; afterwards Read
// reports the end, or the error that stopped it.
func (c *ConvertReader) drain(cw *ConvertWriter) error {
	err := c.copySource(cw)
	c.err = io.EOF
	if err != nil {
		c.err = err
	}
	return err
}

// copySource copies the rest of the underlying reader to cw, from its own
// buffers where it has a WriteTo method.
func (c *ConvertReader) copySource(cw *ConvertWriter) error {
	if wt, ok := c.r.(io.WriterTo); ok {
		_, err := wt.WriteTo(cw)
		return err
	}
	if len(c.buf) < readBlock {
		c.buf = growBuf(c.buf, 0, readBlock, c.inUnit, readBlock)
	}
	for {
		m, err := c.r.Read(c.buf)
		if _, werr := cw.Write(c.buf[:m]); werr != nil {
			return werr
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
