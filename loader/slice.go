package loader

import (
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Index selects along one dimension of a tensor: a single position, which
// removes the dimension from the result, or a half-open range [start, stop)
// taken every step elements. Negative positions count from the end of the
// dimension, as in Python. Build one with [At], [Range], [From], [To] or
// [All].
type Index struct {
	start, stop int64
	step        int64
	single      bool
	hasStart    bool
	hasStop     bool
}

// At selects position i and drops the dimension.
func At(i int64) Index { return Index{start: i, single: true, hasStart: true} }

// Range selects positions start up to, not including, stop.
func Range(start, stop int64) Index {
	return Index{start: start, stop: stop, hasStart: true, hasStop: true}
}

// From selects positions from start to the end.
func From(start int64) Index { return Index{start: start, hasStart: true} }

// To selects positions from the beginning up to, not including, stop.
func To(stop int64) Index { return Index{stop: stop, hasStop: true} }

// All selects the whole dimension.
func All() Index { return Index{} }

// Step returns the range ix taking every step-th position. Steps must be
// positive; a step has no meaning for a single position.
func (ix Index) Step(step int64) Index {
	ix.step = step
	return ix
}

// String formats ix in the spec syntax of [ParseSpec].
func (ix Index) String() string {
	if ix.single {
		return strconv.FormatInt(ix.start, 10)
	}
	var b strings.Builder
	if ix.hasStart {
		b.WriteString(strconv.FormatInt(ix.start, 10))
	}
	b.WriteByte(':')
	if ix.hasStop {
		b.WriteString(strconv.FormatInt(ix.stop, 10))
	}
	if ix.step != 0 && ix.step != 1 {
		b.WriteByte(':')
		b.WriteString(strconv.FormatInt(ix.step, 10))
	}
	return b.String()
}

// ParseSpec parses a slice spec: comma-separated items, one per leading
// dimension, each "i" (a position), "a:b", "a:", ":b" or ":" (ranges), or
// "a:b:s" with a step. Positions may be negative. The empty spec selects
// the whole tensor.
func ParseSpec(spec string) ([]Index, error) {
	if strings.TrimSpace(spec) == "" {
		return nil, nil
	}
	var idx []Index
	for item := range strings.SplitSeq(spec, ",") {
		ix, err := parseItem(strings.TrimSpace(item))
		if err != nil {
			return nil, &Error{Offset: -1, Err: ErrInvalidSlice, Detail: fmt.Sprintf("spec %q: item %q: %v", spec, item, err)}
		}
		idx = append(idx, ix)
	}
	return idx, nil
}

func parseItem(item string) (Index, error) {
	parts := strings.Split(item, ":")
	if len(parts) == 1 {
		i, err := strconv.ParseInt(item, 10, 64)
		return At(i), err
	}
	if len(parts) > 3 {
		return Index{}, fmt.Errorf("too many colons")
	}
	var ix Index
	var err error
	if parts[0] != "" {
		ix.hasStart = true
		if ix.start, err = strconv.ParseInt(parts[0], 10, 64); err != nil {
			return ix, err
		}
	}
	if parts[1] != "" {
		ix.hasStop = true
		if ix.stop, err = strconv.ParseInt(parts[1], 10, 64); err != nil {
			return ix, err
		}
	}
	if len(parts) == 3 && parts[2] != "" {
		if ix.step, err = strconv.ParseInt(parts[2], 10, 64); err != nil {
			return ix, err
		}
	}
	return ix, nil
}

// ByteRange is a contiguous run of bytes of a file.
type ByteRange struct {
	// Off is the absolute offset of the first byte in the file.
	Off int64
	// Len is the number of bytes.
	Len int64
}

// Slice is a selection of part of a tensor: its shape, and the contiguous
// byte ranges of the file that hold it in row-major order. Adjacent ranges
// are merged, so a selection of whole rows is one range.
type Slice struct {
	// Shape is the shape of the selection.
	Shape []uint64
	// Ranges lists the file bytes of the selection, in row-major order.
	Ranges []ByteRange
	// NBytes is the total length of Ranges.
	NBytes int64

	f *File
}

// Bytes gathers the selection's bytes into a new slice, reading each
// range straight into its place.
func (s *Slice) Bytes() ([]byte, error) {
	buf := make([]byte, s.NBytes)
	at := buf
	for _, r := range s.Ranges {
		if _, err := s.f.ReadAt(at[:r.Len], r.Off); err != nil {
			return nil, err
		}
		at = at[r.Len:]
	}
	return buf, nil
}

// WriteTo writes the selection's bytes to w in row-major order without
// gathering them first; it implements [io.WriterTo]. From a mapped file
// the bytes are written from the mapping, so Close waits for WriteTo to
// return.
func (s *Slice) WriteTo(w io.Writer) (int64, error) {
	return s.f.writeRanges(w, s.Ranges, s.NBytes)
}

// dim is one dimension's normalised selection.
type dim struct {
	start, count, step uint64
	keep               bool // false for a single position
}

// plan computes the shape and byte ranges of a selection. Dimensions are
// checked innermost first, as the reference does, so that a selection with
// several faults reports the same one.
func plan(t TensorInfo, idx []Index) (*Slice, *Error) {
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
	s := &Slice{Shape: []uint64{}}
	for _, d := range dims {
		if d.keep {
			s.Shape = append(s.Shape, d.count)
		}
	}
	err := s.ranges(t, dims)
	return s, err
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
		if ix.step != 0 {
			return dim{}, newError(ErrInvalidSlice, "", "a step has no meaning for the single position %d", ix.start)
		}
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
	step := ix.step
	switch {
	case start < 0 || start >= n:
		return dim{}, outOfRange(start)
	case stop < 0 || stop > n:
		return dim{}, outOfRange(stop - 1)
	case start > stop:
		return dim{}, newError(ErrInvalidSlice, "", "range %d:%d on dimension #%d starts after it stops", start, stop, i)
	case step == 0:
		step = 1
	case step < 0:
		return dim{}, newError(ErrInvalidSlice, "", "negative step %d on dimension #%d is not supported", step, i)
	}
	count := (stop - start + step - 1) / step
	return dim{start: uint64(start), count: uint64(count), step: uint64(step), keep: true}, nil
}

// ranges fills s.Ranges and s.NBytes: one run per selected position of the
// dimensions up to the innermost partial one, merged when adjacent. Offsets
// are computed in bits so that sub-byte types are checked exactly.
func (s *Slice) ranges(t TensorInfo, dims []dim) *Error {
	for _, d := range dims {
		if d.count == 0 {
			return nil // an empty selection, whatever the other dimensions
		}
	}
	// strides[i] is the size in bits of one step along dimension i.
	strides := make([]uint64, len(dims))
	span := uint64(t.DType.Bits())
	last := -1 // innermost dimension that is not taken whole
	for i := len(dims) - 1; i >= 0; i-- {
		strides[i] = span
		span *= t.Shape[i]
		if last < 0 && !dims[i].whole(t.Shape[i]) {
			last = i
		}
	}
	if last < 0 {
		s.add(t.Offset(), t.Len())
		return nil
	}
	run := strides[last] // bits of one run
	outer := dims[:last+1]
	if outer[last].step == 1 {
		run *= outer[last].count
		outer = append(outer[:last:last], dim{start: outer[last].start, count: 1, step: 1})
	}
	if run%8 != 0 {
		return newError(ErrMisalignedSlice, "", "a run of %d bits does not end at a byte boundary", run)
	}
	pos := make([]uint64, len(outer)) // odometer over the outer positions
	for {
		var bit uint64
		for i, d := range outer {
			bit += (d.start + pos[i]*d.step) * strides[i]
		}
		if bit%8 != 0 {
			return newError(ErrMisalignedSlice, "", "the selection starts at bit %d, not at a byte boundary", bit)
		}
		s.add(t.Offset()+int64(bit/8), int64(run/8))
		if !advance(pos, outer) {
			return nil
		}
	}
}

// advance steps the odometer pos over the counts of dims, innermost
// fastest, and reports false when it wraps around.
func advance(pos []uint64, dims []dim) bool {
	for i := len(pos) - 1; i >= 0; i-- {
		pos[i]++
		if pos[i] < dims[i].count {
			return true
		}
		pos[i] = 0
	}
	return false
}

// add appends a range, merging it with the previous one when adjacent.
func (s *Slice) add(off, n int64) {
	s.NBytes += n
	if k := len(s.Ranges); k > 0 && s.Ranges[k-1].Off+s.Ranges[k-1].Len == off {
		s.Ranges[k-1].Len += n
		return
	}
	s.Ranges = append(s.Ranges, ByteRange{Off: off, Len: n})
}
