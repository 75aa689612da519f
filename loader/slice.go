package loader

import (
	"errors"
	"fmt"
	"io"
	"iter"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/stload/stload/dtype"
)

// Index selects along one dimension of a tensor: a half-open range
// [start, stop) ([Range]), possibly taken every step elements, or a
// single position, which removes the dimension from the result (steps
// and single positions come from [ParseSpec]'s "a:b:s" and "i"). Negative positions count from the end of
// the dimension, as in Python. The zero Index selects the whole dimension,
// as ":" does.
type Index struct {
	start, stop int64
	step        int64 // 0: not given, which means 1
	single      bool
	hasStart    bool
	hasStop     bool
}

// at selects position i and drops the dimension.
func at(i int64) Index { return Index{start: i, single: true, hasStart: true} }

// Range selects positions start up to, not including, stop.
func Range(start, stop int64) Index {
	return Index{start: start, stop: stop, hasStart: true, hasStop: true}
}

// ParseSpec parses a slice spec: comma-separated items, one per leading
// dimension, each "i" (a position), "a:b", "a:", ":b" or ":" (ranges), or
// "a:b:s" with a positive step s. Positions may be negative. The empty
// spec selects the whole tensor. Errors wrap [ErrInvalidSlice].
func ParseSpec(spec string) ([]Index, error) {
	if strings.TrimSpace(spec) == "" {
		return nil, nil
	}
	var idx []Index
	for item := range strings.SplitSeq(spec, ",") {
		ix, err := parseItem(strings.TrimSpace(item))
		if err != nil {
			where := strconv.Quote(spec)
			if strings.Contains(spec, ",") {
				where = fmt.Sprintf("item %q of %q", strings.TrimSpace(item), spec)
			}
			return nil, &Error{Err: ErrInvalidSlice, Detail: where + ": " + err.Error()}
		}
		idx = append(idx, ix)
	}
	return idx, nil
}

// parseItem parses one item of a spec.
func parseItem(item string) (Index, error) {
	parts := strings.Split(item, ":")
	if len(parts) == 1 {
		i, err := parseInt(item)
		if err != nil {
			// The spec or item named in the message is this number.
			_, reason, _ := strings.Cut(err.Error(), " is ")
			err = errors.New(reason)
		}
		return at(i), err
	}
	if len(parts) > 3 {
		return Index{}, errors.New("too many colons")
	}
	var ix Index
	var err error
	if parts[0] != "" {
		ix.hasStart = true
		if ix.start, err = parseInt(parts[0]); err != nil {
			return ix, err
		}
	}
	if parts[1] != "" {
		ix.hasStop = true
		if ix.stop, err = parseInt(parts[1]); err != nil {
			return ix, err
		}
	}
	if len(parts) == 3 && parts[2] != "" {
		if ix.step, err = parseInt(parts[2]); err != nil {
			return ix, err
		}
		if ix.step == 0 {
			return ix, errors.New("the step is zero")
		}
	}
	return ix, nil
}

// parseInt parses a position or a step of a spec.
func parseInt(s string) (int64, error) {
	v, err := strconv.ParseInt(s, 10, 64)
	var num *strconv.NumError
	switch {
	case errors.As(err, &num) && num.Err == strconv.ErrRange:
		return 0, fmt.Errorf("%s is out of range", s)
	case err != nil:
		return 0, fmt.Errorf("%q is not an integer", s)
	}
	return v, nil
}

// Slice is a selection of part of a tensor: its shape, and the contiguous
// runs of file bytes that hold it in row-major order, which [Slice.Runs]
// generates on demand.
type Slice struct {
	// Shape is the shape of the selection.
	Shape []uint64
	// DType is the element type.
	DType dtype.DType
	// NBytes is the number of bytes of the selection.
	NBytes int64

	t     Tensor
	outer []dim    // the dimensions whose positions start a run
	incs  []uint64 // incs[i]: bits from one position of outer[i] to the next
	base  uint64   // bit of the tensor where the first run starts
	run   int64    // bytes of one run
}

// Runs iterates over the selection's bytes as (absolute file offset,
// length) pairs in row-major order, adjacent runs merged: a selection of
// whole rows is one run. It generates them as it goes, in memory that
// does not depend on their number. An empty selection has no runs.
func (s *Slice) Runs() iter.Seq2[int64, int64] {
	return func(yield func(int64, int64) bool) {
		if s.NBytes == 0 {
			return
		}
		start := s.t.Offset()
		pos := make([]uint64, len(s.outer)) // odometer over the outer positions
		bit := s.base
		off, n := start+int64(bit/8), int64(0) // the run being merged
		for {
			at := start + int64(bit/8)
			if at != off+n {
				if !yield(off, n) {
					return
				}
				off, n = at, 0
			}
			n += s.run
			if !s.advance(pos, &bit) {
				yield(off, n)
				return
			}
		}
	}
}

// advance steps the odometer pos over the counts of the outer dimensions,
// innermost fastest, keeping bit at the start of the run it points to, and
// reports false when it wraps around.
func (s *Slice) advance(pos []uint64, bit *uint64) bool {
	for i := len(pos) - 1; i >= 0; i-- {
		pos[i]++
		if pos[i] < s.outer[i].count {
			*bit += s.incs[i]
			return true
		}
		pos[i] = 0
		*bit -= (s.outer[i].count - 1) * s.incs[i]
	}
	return false
}

// Bytes gathers the selection's bytes into a new slice, copying each run
// straight into its place. A read from a mapped file that another process
// truncated meanwhile fails with an I/O error rather than crash the
// program.
func (s *Slice) Bytes() ([]byte, error) {
	f, m, err := s.t.lease()
	if err != nil {
		return nil, err
	}
	defer f.done()
	buf := make([]byte, s.NBytes)
	if m != nil {
		err = s.gather(f, m, buf)
	} else {
		err = s.read(f, buf)
	}
	if err != nil {
		return nil, err
	}
	return buf, nil
}

// gather copies the runs from the mapping m into buf.
func (s *Slice) gather(f *File, m, buf []byte) (err error) {
	defer f.catchFault(debug.SetPanicOnFault(true), m, &err)
	for off, n := range s.Runs() {
		buf = buf[copy(buf, m[off:off+n]):]
	}
	return nil
}

// read reads the runs through f into buf.
func (s *Slice) read(f *File, buf []byte) error {
	for off, n := range s.Runs() {
		if _, err := f.ReadAt(buf[:n], off); err != nil {
			return err
		}
		buf = buf[n:]
	}
	return nil
}

// WriteTo writes the selection's bytes to w in row-major order without
// gathering them first; it implements [io.WriterTo]. A mapped file's
// bytes go to w straight from the mapping, with no copy between, under a
// lease that keeps a concurrent Close from unmapping them; if another
// process truncated the file meanwhile, the read (in w.Write) fails with an
// I/O error rather than crash the program. Otherwise they are read into a
// buffer, as large as the selection up to 1 MiB for an [*os.File], 64 MiB
// for another reader, and written from there.
func (s *Slice) WriteTo(w io.Writer) (int64, error) {
	f, m, err := s.t.lease()
	if err != nil {
		return 0, err
	}
	defer f.done()
	if m == nil {
		return s.copyTo(w, f, make([]byte, min(s.NBytes, f.chunk)))
	}
	return s.writeMapped(w, f, m)
}

// writeMapped writes the runs to w straight from the mapping m. A fault
// in the mapping comes back two ways: as a panic when Go code reads it,
// and as EFAULT ("bad address") when w is a file or pipe and the kernel
// reads it in write(2). Both are the source's fault, not w's.
func (s *Slice) writeMapped(w io.Writer, f *File, m []byte) (written int64, err error) {
	defer f.catchFault(debug.SetPanicOnFault(true), m, &err)
	for off, n := range s.Runs() {
		k, err := w.Write(m[off : off+n])
		written += int64(k)
		if isEFAULT(err) {
			return written, f.faultError(off + int64(k))
		}
		if err != nil {
			return written, err
		}
	}
	return written, nil
}

// copyTo is WriteTo for a file that is not mapped: runs are read into buf,
// several small ones together, and written a buffer at a time.
func (s *Slice) copyTo(w io.Writer, f *File, buf []byte) (written int64, err error) {
	fill := 0
	flush := func() error {
		k, err := w.Write(buf[:fill])
		written += int64(k)
		fill = 0
		return err
	}
	for off, n := range s.Runs() {
		for n > 0 {
			k := min(n, int64(len(buf)-fill))
			if _, err := f.ReadAt(buf[fill:fill+int(k)], off); err != nil {
				return written, err
			}
			fill += int(k)
			off, n = off+k, n-k
			if fill == len(buf) {
				if err := flush(); err != nil {
					return written, err
				}
			}
		}
	}
	if fill > 0 {
		err = flush()
	}
	return written, err
}

// dim is one dimension's normalised selection.
type dim struct {
	start, count, step uint64
	keep               bool // false for a single position
}

// plan computes the shape and the runs of a selection. Dimensions are
// checked innermost first, as the reference does, so that a selection with
// several faults reports the same one.
func plan(t Tensor, idx []Index) (*Slice, *Error) {
	if len(idx) > len(t.Shape) {
		return nil, newError(ErrTooManySlices, "", "%d indexes for a tensor of rank %d", len(idx), len(t.Shape))
	}
	dims := make([]dim, len(t.Shape))
	span := uint64(t.DType.Bits()) // bits of one step along dimension i
	partial := false
	for i := len(t.Shape) - 1; i >= 0; i-- {
		size := t.Shape[i]
		d := dim{count: size, step: 1, keep: true}
		if i < len(idx) {
			var err *Error
			if d, err = normalise(idx[i], i, size); err != nil {
				return nil, err
			}
		}
		if !partial && !d.whole(size) {
			partial = true
			if (d.start*span)%8 != 0 || ((d.start+d.count*d.step)*span)%8 != 0 {
				return nil, newError(ErrMisalignedSlice, "", "the selection on dimension #%d does not start and end at byte boundaries", i)
			}
		}
		dims[i] = d
		span *= size
	}
	s := &Slice{Shape: []uint64{}, DType: t.DType, t: t}
	for _, d := range dims {
		if d.keep {
			s.Shape = append(s.Shape, d.count)
		}
	}
	return s, s.layout(dims)
}

// whole reports whether d selects all of a dimension of the given size.
func (d dim) whole(size uint64) bool { return d.start == 0 && d.count == size && d.step == 1 }

// normalise turns an Index on dimension i of the given size into a
// start, count and step, applying the reference's bounds rules: a range
// fails when start >= size (even an empty one) or stop > size.
func normalise(ix Index, i int, size uint64) (dim, *Error) {
	n := int64(size) // validated shapes of non-empty tensors fit in int64
	abs := func(v int64) int64 {
		if v < 0 {
			return v + n
		}
		return v
	}
	outOfRange := func(asked int64) *Error {
		return newError(ErrSliceOutOfRange, "", "index %d out of bounds for tensor dimension #%d of size %d", asked, i, size)
	}
	if size > 1<<62 {
		// Only an empty tensor can have such a dimension; every position
		// in it is out of range for the reference too.
		return dim{}, outOfRange(ix.start)
	}
	if ix.single {
		p := abs(ix.start)
		if p < 0 || p >= n {
			return dim{}, outOfRange(ix.start)
		}
		return dim{start: uint64(p), count: 1, step: 1}, nil
	}
	start, stop := int64(0), n
	if ix.hasStart {
		start = abs(ix.start)
	}
	if ix.hasStop {
		stop = abs(ix.stop)
	}
	step := max(ix.step, 1)
	switch {
	case start < 0 || start >= n:
		return dim{}, outOfRange(start)
	case stop < 0 || stop > n:
		return dim{}, outOfRange(stop - 1)
	case start > stop:
		return dim{}, newError(ErrInvalidSlice, "", "range %d:%d on dimension #%d starts after it stops", start, stop, i)
	case ix.step < 0:
		return dim{}, newError(ErrInvalidSlice, "", "negative step %d on dimension #%d is not supported", ix.step, i)
	}
	count := (stop - start + step - 1) / step
	return dim{start: uint64(start), count: uint64(count), step: uint64(step), keep: true}, nil
}

// layout sets up the runs of the selection: one per selected position of
// the dimensions up to the innermost partial one (Runs merges those that
// are adjacent), and NBytes. Offsets are computed in bits so that sub-byte
// types are checked exactly; every run must start at a byte boundary,
// which depends only on where the first starts and on the distance
// between positions of each dimension.
func (s *Slice) layout(dims []dim) *Error {
	for _, d := range dims {
		if d.count == 0 {
			return nil // an empty selection, whatever the other dimensions
		}
	}
	// strides[i] is the size in bits of one step along dimension i.
	strides := make([]uint64, len(dims))
	span := uint64(s.DType.Bits())
	last := -1 // innermost dimension that is not taken whole
	for i := len(dims) - 1; i >= 0; i-- {
		strides[i] = span
		span *= s.t.Shape[i]
		if last < 0 && !dims[i].whole(s.t.Shape[i]) {
			last = i
		}
	}
	run := span // no partial dimension: the whole tensor is one run
	outer := dims[:last+1]
	if last >= 0 {
		run = strides[last]
		if outer[last].step == 1 {
			run *= outer[last].count
			outer = append(outer[:last:last], dim{start: outer[last].start, count: 1, step: 1})
		}
	}
	if run%8 != 0 {
		return newError(ErrMisalignedSlice, "", "a run of %d bits does not end at a byte boundary", run)
	}
	s.outer, s.incs, s.run = outer, make([]uint64, len(outer)), int64(run/8)
	runs := uint64(1)
	misaligned := -1 // innermost dimension whose positions are not a whole number of bytes apart
	for i, d := range outer {
		s.base += d.start * strides[i]
		s.incs[i] = d.step * strides[i]
		runs *= d.count
		if d.count > 1 && s.incs[i]%8 != 0 {
			misaligned = i
		}
	}
	s.NBytes = int64(runs) * s.run
	// In row-major order the first run that is not byte-aligned is the
	// first, or else the second position of that dimension.
	switch {
	case s.base%8 != 0:
		return newError(ErrMisalignedSlice, "", "the selection starts at bit %d, not at a byte boundary", s.base)
	case misaligned >= 0:
		return newError(ErrMisalignedSlice, "", "the selection starts at bit %d, not at a byte boundary", s.base+s.incs[misaligned])
	}
	return nil
}
