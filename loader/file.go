package loader

import (
	"errors"
	"io"
	"iter"
	"maps"
	"os"
	"slices"
	"sync"

	"github.com/stload/stload/dtype"
)

// TensorInfo describes one tensor of a file, as validated from its header.
// Its Shape is shared with the File and must not be modified.
type TensorInfo struct {
	// Name is the tensor's key in the header.
	Name string
	// DType is the element type.
	DType dtype.DType
	// Shape lists the dimensions, outermost first; it is empty for a scalar.
	Shape []uint64
	// Begin and End are the header's data_offsets: the tensor's bytes are
	// [Begin, End) counted from the start of the data section.
	Begin, End int64

	dataStart int64
}

// Offset returns the absolute file offset of the tensor's first byte.
func (t TensorInfo) Offset() int64 { return t.dataStart + t.Begin }

// Len returns the number of bytes of the tensor.
func (t TensorInfo) Len() int64 { return t.End - t.Begin }

// NumElements returns the product of the dimensions (1 for a scalar).
func (t TensorInfo) NumElements() uint64 {
	n := uint64(1)
	for _, d := range t.Shape {
		n *= d // validated not to overflow
	}
	return n
}

// File is an open safetensors file: a validated header and access to the
// tensor bytes, either through a read-only memory mapping ([Open]) or an
// [io.ReaderAt] ([NewReader]). Its methods are safe for concurrent use.
type File struct {
	name       string
	size       int64
	headerSize int64
	meta       map[string]string
	tensors    []TensorInfo // offset order, ties by name
	index      map[string]int
	keys       func() []string // sorted names, built on first use

	mu     sync.RWMutex // write-held by Close; read-held around byte access
	closed bool
	src    source
}

// source is where a File's bytes come from.
type source struct {
	mapped []byte      // the whole file when memory-mapped, else nil
	r      io.ReaderAt // reads when not mapped; also the *os.File when mapped
	close  func() error
	// chunk is the size of the reads writeRanges makes through r: a
	// copy buffer's for a local file, a remote file's parts in flight at
	// once for a remote one, so that they are fetched in parallel.
	chunk int64
}

// Open opens the named file, validates its header and maps it read-only
// into memory, so that tensor bytes are returned without copying. Opening
// reads only the length prefix and the header; no tensor data is touched.
// Where mapping fails (some network and FUSE file systems refuse it), or
// when [WithPread] is given, reads go through pread instead.
func Open(path string, opts ...Option) (*File, error) {
	osf, err := os.Open(path)
	if err != nil {
		return nil, &Error{File: path, Offset: -1, Err: ErrIO, Cause: err}
	}
	return OpenFile(osf, opts...)
}

// OpenFile is [Open] for a file already opened, for instance through an
// [os.Root]. The File takes ownership of osf and closes it on Close, or
// at once when validation fails.
func OpenFile(osf *os.File, opts ...Option) (*File, error) {
	cfg := newConfig(osf.Name(), opts)
	fi, err := osf.Stat()
	if err != nil {
		osf.Close()
		return nil, &Error{File: cfg.name, Offset: -1, Err: ErrIO, Cause: err}
	}
	src := source{r: osf, close: osf.Close, chunk: copyBufSize}
	if !cfg.pread {
		if m, err := mmapFile(osf, fi.Size()); err == nil && m != nil {
			src.mapped = m
			src.close = func() error { return errors.Join(munmap(m), osf.Close()) }
		}
	}
	f, err := newFile(src, fi.Size(), cfg)
	if err != nil {
		src.close()
		return nil, err
	}
	return f, nil
}

// NewReader validates the header of the safetensors file of size bytes
// read through r. Tensor bytes are read with r.ReadAt when asked for, which
// suits file systems where memory mapping is slow or unavailable. Close
// does not close r.
func NewReader(r io.ReaderAt, size int64, opts ...Option) (*File, error) {
	cfg := newConfig("", opts)
	return newFile(source{r: r, close: func() error { return nil }, chunk: copyBufSize}, size, cfg)
}

// newFile reads and validates the header through src and builds the File.
func newFile(src source, size int64, cfg config) (*File, error) {
	f, err := parseFile(src, size, cfg)
	if err != nil {
		err.File = cfg.name
		return nil, err
	}
	f.name = cfg.name
	return f, nil
}

// parseFile runs the reference's eleven checks in its order, then stload's
// stricter ones.
func parseFile(src source, size int64, cfg config) (*File, *Error) {
	var prefix [8]byte
	if size >= 8 {
		if err := src.readFull(prefix[:], 0); err != nil {
			return nil, ioError(err, 0)
		}
	}
	n, err := checkPrefix(prefix[:], size, cfg.maxHeader)
	if err != nil {
		return nil, err
	}
	hdr, rerr := src.header(n)
	if rerr != nil {
		return nil, ioError(rerr, 8)
	}
	if err := checkUTF8(hdr); err != nil {
		return nil, err
	}
	h, err := parseHeader(hdr, cfg.lenient)
	if err != nil {
		return nil, err
	}
	sorted := sortTensors(h.tensors)
	if err := h.validate(size-8-n, 8+n); err != nil {
		if h.strict != nil {
			err.Detail += "; note: " + h.strict.Err.Error() + ": " + h.strict.Detail
		}
		return nil, err
	}
	if h.strict != nil {
		return nil, h.strict
	}
	if sorted {
		h.reindex()
	}
	return build(h, src, size, n), nil
}

// build assembles a File from a validated header.
func build(h *header, src source, size, n int64) *File {
	f := &File{size: size, headerSize: n, meta: h.meta, tensors: h.tensors, index: h.index, src: src}
	f.keys = sync.OnceValue(func() []string {
		keys := make([]string, len(f.tensors))
		for i := range f.tensors {
			keys[i] = f.tensors[i].Name
		}
		slices.Sort(keys)
		return keys
	})
	return f
}

func ioError(err error, off int64) *Error {
	return &Error{Offset: off, Err: ErrIO, Cause: err}
}

// readFull reads len(p) bytes at off.
func (s source) readFull(p []byte, off int64) error {
	if s.mapped != nil {
		copy(p, s.mapped[off:])
		return nil
	}
	n, err := s.r.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// header returns the n header bytes. Through a reader it grows the buffer
// as bytes arrive, so a length prefix that lies about a short stream cannot
// make it allocate the full claimed size up front.
func (s source) header(n int64) ([]byte, error) {
	if s.mapped != nil {
		return s.mapped[8 : 8+n], nil
	}
	const chunk = 1 << 20
	buf := make([]byte, 0, min(n, chunk))
	for int64(len(buf)) < n {
		k := int(min(n-int64(len(buf)), chunk))
		buf = slices.Grow(buf, k)
		if err := s.readFull(buf[len(buf):len(buf)+k], 8+int64(len(buf))); err != nil {
			return nil, err
		}
		buf = buf[:len(buf)+k]
	}
	return buf, nil
}

// Name returns the path given to [Open], or the name set by [WithName].
func (f *File) Name() string { return f.name }

// Size returns the size of the file in bytes.
func (f *File) Size() int64 { return f.size }

// HeaderSize returns N, the length of the JSON header in bytes.
func (f *File) HeaderSize() int64 { return f.headerSize }

// DataOffset returns the absolute offset of the data section, 8+N.
func (f *File) DataOffset() int64 { return 8 + f.headerSize }

// Len returns the number of tensors.
func (f *File) Len() int { return len(f.tensors) }

// Keys returns the tensor names sorted in byte order, like safe_open's
// keys(). The caller may modify the returned slice.
func (f *File) Keys() []string { return slices.Clone(f.keys()) }

// Tensors iterates over the tensors in file-offset order (empty tensors
// that share an offset in name order), like safe_open's offset_keys().
func (f *File) Tensors() iter.Seq2[string, TensorInfo] {
	return func(yield func(string, TensorInfo) bool) {
		for _, t := range f.tensors {
			if !yield(t.Name, t) {
				return
			}
		}
	}
}

// Metadata returns a copy of the header's __metadata__ map: nil when the
// header has none (or null), empty when it is {}.
func (f *File) Metadata() map[string]string { return maps.Clone(f.meta) }

// Info returns the description of the named tensor.
func (f *File) Info(name string) (TensorInfo, bool) {
	i, ok := f.index[name]
	if !ok {
		return TensorInfo{}, false
	}
	return f.tensors[i], true
}

// Tensor returns the named tensor. It fails with [ErrTensorNotFound] when
// the file has no such tensor and [ErrClosed] after Close.
func (f *File) Tensor(name string) (Tensor, error) {
	if _, err := f.mapping(); err != nil {
		return Tensor{}, err
	}
	info, ok := f.Info(name)
	if !ok {
		return Tensor{}, &Error{File: f.name, Tensor: name, Offset: -1, Err: ErrTensorNotFound}
	}
	return Tensor{TensorInfo: info, f: f}, nil
}

// ReadAt reads len(p) bytes at absolute offset off of the file. It
// implements [io.ReaderAt], is safe for concurrent use, and fails with
// [ErrClosed] after Close.
func (f *File) ReadAt(p []byte, off int64) (int, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.closed {
		return 0, &Error{File: f.name, Offset: off, Err: ErrClosed}
	}
	if off < 0 || off > f.size {
		return 0, &Error{File: f.name, Offset: off, Err: ErrIO, Detail: "offset outside the file"}
	}
	if len(p) == 0 {
		return 0, nil
	}
	if f.src.mapped != nil {
		n := copy(p, f.src.mapped[off:])
		if n < len(p) {
			return n, io.EOF
		}
		return n, nil
	}
	n, err := f.src.r.ReadAt(p, off)
	if err != nil && err != io.EOF {
		err = f.readError(err, off)
	}
	return n, err
}

// readError wraps an error of the reader's that is not already an
// *Error (one from the operating system, say) in one that names the file
// and the offset and wraps ErrIO, as every error of the package does.
func (f *File) readError(err error, off int64) error {
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	return &Error{File: f.name, Offset: off, Err: ErrIO, Cause: err}
}

// withMapped calls fn with the mapping, or nil when the file is not mapped,
// while holding the read lock, so that Close cannot unmap the memory while
// fn uses it.
func (f *File) withMapped(fn func(m []byte) error) error {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.closed {
		return &Error{File: f.name, Offset: -1, Err: ErrClosed}
	}
	return fn(f.src.mapped)
}

// mapping returns the mapping, or nil when the file is read through an
// io.ReaderAt; after Close it fails with ErrClosed.
func (f *File) mapping() ([]byte, error) {
	var mapped []byte
	err := f.withMapped(func(m []byte) error { mapped = m; return nil })
	return mapped, err
}

// Mapped returns the whole file as mapped into memory, or nil when the
// file is read through an io.ReaderAt. The slice must not be used after
// Close: the memory behind it is unmapped.
func (f *File) Mapped() []byte {
	m, _ := f.mapping()
	return m
}

// writeRanges writes the bytes of ranges, total bytes in all, to w in
// order. A mapped file's bytes go to w as they are, without a copy, under
// the read lock so that Close cannot unmap them meanwhile. Otherwise they
// are read into a buffer, a chunk of the source's size at a time.
func (f *File) writeRanges(w io.Writer, ranges []ByteRange, total int64) (int64, error) {
	var written int64
	mapped := false
	err := f.withMapped(func(m []byte) error {
		if mapped = m != nil; !mapped {
			return nil
		}
		for _, r := range ranges {
			n, err := w.Write(m[r.Off : r.Off+r.Len])
			written += int64(n)
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil || mapped {
		return written, err
	}
	return f.copyRanges(w, ranges, make([]byte, min(total, f.src.chunk)))
}

// copyRanges is writeRanges for a file that is not mapped: each range is
// read into buf and written from there, a buffer at a time.
func (f *File) copyRanges(w io.Writer, ranges []ByteRange, buf []byte) (int64, error) {
	var written int64
	for _, r := range ranges {
		for done := int64(0); done < r.Len; {
			k := min(r.Len-done, int64(len(buf)))
			if _, err := f.ReadAt(buf[:k], r.Off+done); err != nil {
				return written, err
			}
			n, err := w.Write(buf[:k])
			written += int64(n)
			if err != nil {
				return written, err
			}
			done += k
		}
	}
	return written, nil
}

// Close releases the mapping and the file. Later calls that read bytes
// fail with [ErrClosed]; slices returned by [Tensor.Bytes] for a mapped
// file become invalid. Close is idempotent.
func (f *File) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil
	}
	f.closed = true
	if err := f.src.close(); err != nil {
		return &Error{File: f.name, Offset: -1, Err: ErrIO, Cause: err}
	}
	return nil
}
