package loader

import (
	"io"
	"iter"
	"maps"
	"os"
	"slices"
	"sync"
)

// File is an open safetensors file: a validated header and access to the
// tensor bytes, either through a read-only memory mapping or through an
// [io.ReaderAt]. Its methods are safe for concurrent use.
type File struct {
	name       string
	size       int64
	headerSize int64
	meta       map[string]string
	tensors    []Tensor // offset order, ties by name
	index      map[string]int

	r     io.ReaderAt // reads when not mapped
	chunk int64       // the most bytes WriteTo asks of r at once

	mu     sync.Mutex
	closed bool
	users  int          // leases of the mapping and reads in progress
	mapped []byte       // the whole file when memory-mapped, else nil
	free   func() error // unmaps, and closes what Open opened
}

// copyBufSize is the size of the reads WriteTo makes through an
// [*os.File] that is not mapped, and of the writers' buffers: big enough
// to keep system calls few, small enough to be negligible next to a
// tensor.
const copyBufSize = 1 << 20

// readerChunk is the size of the reads WriteTo makes through any other
// io.ReaderAt: large, so that a reader that fetches a long read in
// parallel parts (loader/httprange's) has parts to fetch in parallel.
const readerChunk = 64 << 20

// Open opens the named file, validates its header and maps it read-only
// into memory, so that tensor bytes are returned without copying. Opening
// reads only the length prefix and the header; no tensor data is touched.
// Where mapping fails (some network and FUSE file systems refuse it), or
// when [WithPread] is given, reads go through pread instead. Close closes
// the file.
func Open(path string, opts ...Option) (*File, error) {
	osf, err := os.Open(path)
	if err != nil {
		return nil, &Error{File: path, Cause: err}
	}
	fi, err := osf.Stat()
	if err != nil {
		osf.Close()
		return nil, &Error{File: path, Cause: err}
	}
	f, err := NewReader(osf, fi.Size(), opts...)
	if err != nil {
		osf.Close()
		return nil, err
	}
	unmap := f.free
	f.free = func() error {
		err := unmap()
		if cerr := osf.Close(); err == nil {
			err = cerr
		}
		return err
	}
	return f, nil
}

// NewReader validates the header of the safetensors file of size bytes
// read through r, and returns a File whose tensor bytes are read with
// r.ReadAt when asked for. When r is an [*os.File] it is memory-mapped
// instead, as [Open] does (unless [WithPread] is given); Close unmaps it
// but never closes r. Errors and [File.Name] name the file with what r's
// Name() string method returns, when it has one (an *os.File, a
// loader/httprange Reader).
//
// Through an r that is not an *os.File, [Slice.WriteTo] reads up to 64 MiB
// at once, so that a reader which fetches a long read in parallel parts
// can do so.
func NewReader(r io.ReaderAt, size int64, opts ...Option) (*File, error) {
	cfg := newConfig(opts)
	f := &File{r: r, size: size, chunk: readerChunk, free: func() error { return nil }}
	if n, ok := r.(interface{ Name() string }); ok {
		f.name = n.Name()
	}
	if osf, ok := r.(*os.File); ok {
		f.chunk = copyBufSize
		if !cfg.pread {
			f.mapFile(osf)
		}
	}
	if err := f.parse(cfg); err != nil {
		f.free()
		err.File = f.name
		return nil, err
	}
	return f, nil
}

// mapFile maps osf when it holds at least the file's size bytes: mapping
// past the end of a file would make reading there crash the program.
func (f *File) mapFile(osf *os.File) {
	fi, err := osf.Stat()
	if err != nil || fi.Size() < f.size {
		return
	}
	if m, err := mmapFile(osf, f.size); err == nil && m != nil {
		f.mapped = m
		f.free = func() error { return munmap(m) }
	}
}

// parse runs the reference's eleven checks in its order, then stload's
// stricter ones, and fills in the File.
func (f *File) parse(cfg config) *Error {
	var prefix [8]byte
	if f.size >= 8 {
		if err := f.readFull(prefix[:], 0); err != nil {
			return &Error{Detail: "reading the length prefix", Cause: err}
		}
	}
	n, err := checkPrefix(prefix[:], f.size, cfg.maxHeader)
	if err != nil {
		return err
	}
	hdr, rerr := f.header(n)
	if rerr != nil {
		return &Error{Offset: 8, Detail: "reading the header", Cause: rerr}
	}
	if err := checkUTF8(hdr); err != nil {
		return err
	}
	h, err := parseHeader(hdr, cfg.lenient, f)
	if err != nil {
		return err
	}
	sorted := sortTensors(h.tensors)
	if err := h.validate(f.size-8-n, 8+n); err != nil {
		if h.strict != nil {
			err.Detail += "; note: " + h.strict.Err.Error() + ": " + h.strict.Detail
		}
		return err
	}
	if h.strict != nil {
		return h.strict
	}
	if sorted {
		h.reindex()
	}
	f.headerSize, f.meta, f.tensors, f.index = n, h.meta, h.tensors, h.index
	return nil
}

// readFull reads len(p) bytes at off while the header is parsed.
func (f *File) readFull(p []byte, off int64) error {
	if f.mapped != nil {
		copy(p, f.mapped[off:])
		return nil
	}
	n, err := f.r.ReadAt(p, off)
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
func (f *File) header(n int64) ([]byte, error) {
	if f.mapped != nil {
		return f.mapped[8 : 8+n], nil
	}
	const chunk = 1 << 20
	buf := make([]byte, 0, min(n, chunk))
	for int64(len(buf)) < n {
		k := int(min(n-int64(len(buf)), chunk))
		buf = slices.Grow(buf, k)
		if err := f.readFull(buf[len(buf):len(buf)+k], 8+int64(len(buf))); err != nil {
			return nil, err
		}
		buf = buf[:len(buf)+k]
	}
	return buf, nil
}

// Name returns the path given to [Open], or the name of the reader given
// to [NewReader] ("" when it has none).
func (f *File) Name() string { return f.name }

// Size returns the size of the file in bytes.
func (f *File) Size() int64 { return f.size }

// HeaderSize returns N, the length of the JSON header in bytes; the data
// section starts at byte 8+N.
func (f *File) HeaderSize() int64 { return f.headerSize }

// Tensors iterates over the tensors in file-offset order (empty tensors
// that share an offset in name order), like safe_open's offset_keys().
func (f *File) Tensors() iter.Seq2[string, Tensor] {
	return func(yield func(string, Tensor) bool) {
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

// Tensor returns the named tensor. It fails with [ErrTensorNotFound] when
// the file has no such tensor and with [fs.ErrClosed] after Close.
func (f *File) Tensor(name string) (Tensor, error) {
	f.mu.Lock()
	closed := f.closed
	f.mu.Unlock()
	if closed {
		return Tensor{}, closedError(f.name)
	}
	i, ok := f.index[name]
	if !ok {
		return Tensor{}, &Error{File: f.name, Tensor: name, Err: ErrTensorNotFound}
	}
	return f.tensors[i], nil
}

// ReadAt reads len(p) bytes at absolute offset off of the file. It
// implements [io.ReaderAt], is safe for concurrent use, and fails with
// [fs.ErrClosed] after Close.
func (f *File) ReadAt(p []byte, off int64) (int, error) {
	m, err := f.acquire()
	if err != nil {
		return 0, err
	}
	defer f.done()
	if off < 0 || off > f.size {
		return 0, &Error{File: f.name, Offset: off, Detail: "offset outside the file"}
	}
	if len(p) == 0 {
		return 0, nil
	}
	if m != nil {
		n := copy(p, m[off:])
		if n < len(p) {
			return n, io.EOF
		}
		return n, nil
	}
	n, err := f.r.ReadAt(p, off)
	if err != nil && err != io.EOF {
		err = f.readError(err, off)
	}
	return n, err
}

// readError wraps an error of the reader's that is not already an *Error
// (one from the operating system, say) in one that names the file and
// the offset.
func (f *File) readError(err error, off int64) error {
	if _, ok := err.(*Error); ok {
		return err
	}
	return &Error{File: f.name, Offset: off, Cause: err}
}

// Mapping returns the whole file as mapped into memory, and a lease on
// the mapping: until release is called, the memory stays mapped even if
// the File is closed meanwhile (Close then only marks the file closed; the
// last release unmaps it). data is nil for a file that is not mapped (one
// read through an [io.ReaderAt], or opened with [WithPread]); release is
// never nil, may be called more than once, and must be called. After
// Close, Mapping fails with [fs.ErrClosed].
func (f *File) Mapping() (data []byte, release func(), err error) {
	m, err := f.acquire()
	if err != nil {
		return nil, func() {}, err
	}
	return m, sync.OnceFunc(f.done), nil
}

// acquire counts a user of the file's bytes, who must call done, and
// returns the mapping (nil when not mapped).
func (f *File) acquire() ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil, closedError(f.name)
	}
	f.users++
	return f.mapped, nil
}

// done ends a use begun by acquire, releasing the file's resources if it
// was the last use of a closed file.
func (f *File) done() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.users--
	if f.closed && f.users == 0 {
		f.release()
	}
}

// release unmaps the file and closes what Open opened; f.mu is held.
func (f *File) release() error {
	f.mapped = nil
	err := f.free()
	f.free = func() error { return nil }
	return err
}

// Close marks the file closed: later calls that read bytes fail with
// [fs.ErrClosed]. It releases the mapping and the file [Open] opened at
// once, or, while a lease from [File.Mapping] or a read is in progress,
// when the last of them ends; slices returned by [Tensor.Bytes] for a
// mapped file become invalid then. Close never closes the reader given to
// [NewReader]. It is idempotent.
func (f *File) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil
	}
	f.closed = true
	if f.users > 0 {
		return nil
	}
	if err := f.release(); err != nil {
		return &Error{File: f.name, Detail: "close", Cause: err}
	}
	return nil
}
