package loader

import (
	"io"

	"github.com/stload/stload/dtype"
)

// Tensor is one tensor of an open [File], as validated from its header,
// with access to its bytes. Its Shape is shared with the File and must not
// be modified.
type Tensor struct {
	// Name is the tensor's key in the header.
	Name string
	// DType is the element type.
	DType dtype.DType
	// Shape lists the dimensions, outermost first; it is empty for a scalar.
	Shape []uint64
	// Begin and End are the header's data_offsets: the tensor's bytes are
	// [Begin, End) counted from the start of the data section.
	Begin, End int64

	f *File
}

// Offset returns the absolute file offset of the tensor's first byte.
func (t Tensor) Offset() int64 {
	if t.f == nil {
		return t.Begin
	}
	return 8 + t.f.headerSize + t.Begin
}

// NumElements returns the product of the dimensions (1 for a scalar).
func (t Tensor) NumElements() uint64 {
	n := uint64(1)
	for _, d := range t.Shape {
		n *= d // validated not to overflow
	}
	return n
}

// lease returns the tensor's file and its mapping (nil when not mapped),
// counting a use of the file's bytes that the caller ends with f.done, as
// a lease from File.Mapping does but without allocating one: it is taken
// for every tensor a checkpoint copies. It fails, counting nothing, for a
// closed file and for a Tensor that was not obtained from a file.
func (t Tensor) lease() (f *File, mapped []byte, err error) {
	if t.f == nil {
		return nil, nil, &Error{Tensor: t.Name, Err: ErrTensorNotFound, Detail: "the tensor belongs to no file"}
	}
	m, err := t.f.acquire()
	return t.f, m, err
}

// Bytes returns the tensor's little-endian bytes. For a memory-mapped file
// the slice points into the mapping: no copy is made, the memory is
// read-only (writing to it crashes the program), and it is valid until the
// File is closed (hold a lease from [File.Mapping] to keep it valid past
// a concurrent Close). Reading the view after another process truncated
// the file faults and crashes the program, a read this package cannot
// guard: where files may change while open, read through [File.ReadAt] or
// [Slice.Bytes], which return an error instead, or open with [WithPread].
// Otherwise Bytes reads the tensor into a new slice. For a part of the
// tensor, or to stream it, use [Tensor.Slice].
func (t Tensor) Bytes() ([]byte, error) {
	f, m, err := t.lease()
	if err != nil {
		return nil, err
	}
	defer f.done()
	off, n := t.Offset(), t.End-t.Begin
	if m != nil {
		return m[off : off+n : off+n], nil
	}
	buf := make([]byte, n)
	if k, err := f.ReadAt(buf, off); err != nil && (err != io.EOF || int64(k) < n) {
		return nil, err
	}
	return buf, nil
}

// Slice selects part of the tensor with the reference's get_slice
// semantics: idx gives one [Index] per leading dimension (fewer than the
// tensor's rank is fine: the rest are taken whole; none selects the whole
// tensor). The result describes the contiguous runs of file bytes the
// selection covers, in row-major order, and reads them on demand.
func (t Tensor) Slice(idx ...Index) (*Slice, error) {
	s, err := plan(t, idx)
	if err != nil {
		if t.f != nil {
			err.File = t.f.name
		}
		err.Tensor = t.Name
		return nil, err
	}
	return s, nil
}
