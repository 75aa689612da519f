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
	src := source{r: osf, close: osf.Close}
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
	return newFile(source{r: r, close: func() error { return nil }}, size, cfg)
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
	if sortEntries(h.entries) {
		for i, e := range h.entries {
			h.index[e.name] = i
		}
	}
	if err := validate(h.entries, size-8-n, 8+n); err != nil {
		if h.strict != nil {
			err.Detail += "; note: " + h.strict.Err.Error() + ": " + h.strict.Detail
		}
		return nil, err
	}
	if h.strict != nil {
		return nil, h.strict
	}
	return build(h, src, size, n), nil
}

// build assembles a File from a validated header.
func build(h *header, src source, size, n int64) *File {
	f := &File{size: size, headerSize: n, meta: h.meta, src: src}
	f.tensors = make([]TensorInfo, len(h.entries))
	f.index = h.index
	for i, e := range h.entries {
		f.tensors[i] = TensorInfo{Name: e.name, DType: e.dt, Shape: e.shape,
			Begin: int64(e.begin), End: int64(e.end), dataStart: 8 + n}
	}
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
	if err := f.check(); err != nil {
		return Tensor{}, err
	}
	info, ok := f.Info(name)
	if !ok {
		return Tensor{}, &Error{File: f.name, Tensor: name, Offset: -1, Err: ErrTensorNotFound}
	}
	return Tensor{TensorInfo: info, f: f}, nil
}

func (f *File) check() error {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.closed {
		return &Error{File: f.name, Offset: -1, Err: ErrClosed}
	}
	return nil
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
	return f.src.r.ReadAt(p, off)
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

// Mapped returns the whole file as mapped into memory, or nil when the
// file is read through an io.ReaderAt. The slice must not be used after
// Close: the memory behind it is unmapped.
func (f *File) Mapped() []byte {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.closed {
		return nil
	}
	return f.src.mapped
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
