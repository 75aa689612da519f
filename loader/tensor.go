package loader

import "io"

// Tensor is one tensor of an open [File]: its description and access to
// its bytes.
type Tensor struct {
	TensorInfo
	f *File
}

// Bytes returns the tensor's little-endian bytes. For a memory-mapped file
// the slice points into the mapping: no copy is made, the memory is
// read-only (writing to it crashes the program), and it is valid until the
// File is closed. Otherwise Bytes reads the tensor into a new slice.
func (t Tensor) Bytes() ([]byte, error) {
	m, err := t.f.mapping()
	if err != nil {
		return nil, err
	}
	if m != nil {
		return m[t.Offset() : t.Offset()+t.Len() : t.Offset()+t.Len()], nil
	}
	buf := make([]byte, t.Len())
	if _, err := t.ReadAt(buf, 0); err != nil {
		return nil, err
	}
	return buf, nil
}

// ReadAt reads len(p) bytes starting off bytes into the tensor. It
// implements [io.ReaderAt] over the tensor's bytes.
func (t Tensor) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off > t.Len() {
		return 0, &Error{File: t.f.name, Tensor: t.Name, Offset: t.Offset() + off, Err: ErrIO, Detail: "offset outside the tensor"}
	}
	want := len(p)
	p = p[:min(int64(len(p)), t.Len()-off)]
	n, err := t.f.ReadAt(p, t.Offset()+off)
	if err == nil && n < want {
		err = io.EOF
	}
	return n, err
}

// Reader returns a reader over the tensor's bytes.
func (t Tensor) Reader() *io.SectionReader {
	return io.NewSectionReader(t.f, t.Offset(), t.Len())
}

// Slice selects part of the tensor with the reference's get_slice
// semantics; see [File.Slice].
func (t Tensor) Slice(idx ...Index) (*Slice, error) {
	s, err := plan(t.TensorInfo, idx)
	if err != nil {
		err.File = t.f.name
		err.Tensor = t.Name
		return nil, err
	}
	s.f = t.f
	return s, nil
}

// Slice selects part of the named tensor: idx gives one [Index] per
// leading dimension (fewer than the tensor's rank is fine: the rest are
// taken whole). The result lists the contiguous byte ranges of the file the
// selection covers, in row-major order, and reads them on demand.
func (f *File) Slice(name string, idx ...Index) (*Slice, error) {
	t, err := f.Tensor(name)
	if err != nil {
		return nil, err
	}
	return t.Slice(idx...)
}
