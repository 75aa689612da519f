package loader

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"os"
	"strings"
	"sync"

	"github.com/stload/stload/loader/internal/nameidx"
)

// File is an open safetensors file: a validated header and access to the
// tensor bytes, either through a read-only memory mapping or through an
// [io.ReaderAt]. Its methods are safe for concurrent use.
type File struct {
	name       string
	size       int64
	headerSize int64
	meta       []metaEntry   // nil when the header has no metadata
	tensors    []Tensor      // offset order, ties by name
	index      nameidx.Index // of tensors

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
//
// Open fails at once, without blocking, on anything but a regular file: a
// directory (a sharded checkpoint is opened with loader/checkpoint's
// Open), a named pipe, a device.
func Open(path string, opts ...Option) (*File, error) {
	osf, err := openRegular(path)
	if errors.Is(err, fs.ErrNotExist) && isURL(path) {
		// The URL is not repeated: it may hold a token or a password,
		// which this package has no means to hide.
		return nil, &Error{Cause: fs.ErrNotExist,
			Detail: "the path is an http(s) URL: open URLs with checkpoint.Open (package github.com/stload/stload/loader/checkpoint)"}
	}
	if err != nil {
		return nil, err
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
// but never closes r. An *os.File that is not a regular file (a
// directory, a named pipe) is refused at once. Errors and [File.Name] name
// the file with what r's Name() string method returns, when it has one (an
// *os.File, a loader/httprange Reader).
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
		fi, err := osf.Stat()
		if err != nil {
			return nil, &Error{File: f.name, Cause: err}
		}
		if err := notRegular(f.name, fi.Mode()); err != nil {
			return nil, err
		}
		if !cfg.pread && fi.Size() >= size {
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

// mapFile maps the file's size bytes of osf, which holds at least that
// many: mapping past the end of a file would make reading there fault.
func (f *File) mapFile(osf *os.File) {
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
			return f.headerReadError(err, "reading the length prefix")
		}
	}
	n, err := checkPrefix(prefix[:], f.size, cfg.maxHeader)
	if err != nil {
		f.explain(err)
		return err
	}
	hdr, rerr := f.header(n)
	if rerr != nil {
		return f.headerReadError(rerr, "reading the header")
	}
	if err := checkUTF8(hdr); err != nil {
		return err
	}
	h, err := parseHeader(hdr, cfg.lenient, f)
	if err != nil {
		return err
	}
	if sortTensors(h.tensors) {
		h.reindex()
	}
	if err := h.validate(hdr, f.size-8-n, 8+n); err != nil {
		if h.strict != nil {
			err.Detail += "; also: " + h.strict.inline()
		}
		return err
	}
	if h.strict != nil {
		return h.strict
	}
	h.detach()
	f.headerSize, f.meta, f.tensors, f.index = n, h.meta, h.tensors, h.index
	return nil
}

// headerReadError wraps an error reading the header: a fault on the
// mapping (already an *Error) as it is, anything else with what was being
// read.
func (f *File) headerReadError(err error, what string) *Error {
	if e, ok := err.(*Error); ok {
		return e
	}
	return &Error{Detail: what, Cause: err}
}

// readFull reads len(p) bytes at off while the header is parsed.
func (f *File) readFull(p []byte, off int64) error {
	if f.mapped != nil {
		_, err := f.copyMapped(f.mapped, p, off)
		return err
	}
	return f.readerFull(p, off)
}

// readerFull reads len(p) bytes at off through the reader, never the
// mapping.
func (f *File) readerFull(p []byte, off int64) error {
	n, err := f.r.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// headerChunk is the size of the last part of a header read through a
// reader before the rest (see header).
const headerChunk = 1 << 20

// header returns the n header bytes, in memory of their own that is never
// written again: the tensors' names are substrings of it until the header
// is parsed and checked (see header.detach). Through a reader the last part of the header is read
// first, into a small buffer, so that a length prefix or a size that lies
// about a short stream cannot make it allocate the full claimed size.
func (f *File) header(n int64) ([]byte, error) {
	if f.mapped != nil {
		// Read with pread, not copied from the mapping: copying would
		// fault the header's pages into the mapping, where they would count
		// in the process's resident memory, as much again as the copy, for
		// as long as the file stays mapped. The mapping covers the file's
		// size, so the n bytes are there.
		buf := make([]byte, n)
		if err := f.readerFull(buf, 8); err != nil {
			return nil, err
		}
		return buf, nil
	}
	tail := min(n, headerChunk)
	last := make([]byte, tail)
	if err := f.readFull(last, 8+n-tail); err != nil {
		return nil, err
	}
	if tail == n {
		return last, nil
	}
	buf := make([]byte, n)
	copy(buf[n-tail:], last)
	if err := f.readFull(buf[:n-tail], 8); err != nil {
		return nil, err
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

// Metadata returns the header's __metadata__ map, a new one on each call:
// nil when the header has none (or null), empty when it is {}.
func (f *File) Metadata() map[string]string {
	if f.meta == nil {
		return nil
	}
	m := make(map[string]string, len(f.meta))
	for _, e := range f.meta {
		m[e.key] = e.value
	}
	return m
}

// Tensor returns the named tensor. It fails with [ErrTensorNotFound] when
// the file has no such tensor and with [fs.ErrClosed] after Close.
func (f *File) Tensor(name string) (Tensor, error) {
	f.mu.Lock()
	closed := f.closed
	f.mu.Unlock()
	if closed {
		return Tensor{}, closedError(f.name)
	}
	i, ok := f.position(name)
	if !ok {
		return Tensor{}, &Error{File: f.name, Tensor: name, Err: ErrTensorNotFound}
	}
	return f.tensors[i], nil
}

// Len returns the number of tensors.
func (f *File) Len() int { return len(f.tensors) }

// TensorAt returns the i-th tensor in [File.Tensors] order, for 0 ≤ i <
// Len; it panics for another i, as indexing a slice does. It lets a
// caller that keeps something for each of millions of tensors refer to a
// tensor by its position, a 4-byte number, instead of holding a copy of
// the Tensor or a map keyed by its name. It reads only what Open kept in
// memory, and works after Close too.
func (f *File) TensorAt(i int) Tensor { return f.tensors[i] }

// position returns the position of the named tensor in [File.Tensors]
// order, for [File.TensorAt], and whether the file has it. It allocates
// nothing.
func (f *File) position(name string) (int, bool) { return f.index.Find(name, f.tensorName) }

// tensorName returns the name of the i-th tensor, for the index.
func (f *File) tensorName(i int) string { return f.tensors[i].Name }

// ReadAt reads len(p) bytes at absolute offset off of the file. It
// implements [io.ReaderAt], is safe for concurrent use, and fails with
// [fs.ErrClosed] after Close. A read from a mapped file that another
// process truncated meanwhile fails with an I/O error rather than crash
// the program.
func (f *File) ReadAt(p []byte, off int64) (int, error) {
	return f.ReadAtContext(context.Background(), p, off)
}

// ReadAtContext is ReadAt that gives up when ctx is done. A file read
// through a reader that has a ReadAtContext method of the same form
// ([httprange.Reader] does) hands ctx to it, so that a cancelled load
// abandons its network requests at once; a mapped file or another reader
// is checked for ctx before the read, and its read is not interrupted.
//
// [httprange.Reader]: https://pkg.go.dev/github.com/stload/stload/loader/httprange#Reader
func (f *File) ReadAtContext(ctx context.Context, p []byte, off int64) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	m, err := f.acquire()
	if err != nil {
		return 0, err
	}
	defer f.done()
	if off < 0 || off > f.size {
		return 0, &Error{File: f.name, Offset: off, Detail: fmt.Sprintf("offset outside the file's %d bytes", f.size)}
	}
	if len(p) == 0 {
		return 0, nil
	}
	if m != nil {
		n, err := f.copyMapped(m, p, off)
		if err == nil && n < len(p) {
			err = io.EOF
		}
		return n, err
	}
	var n int
	if rc, ok := f.r.(contextReaderAt); ok {
		n, err = rc.ReadAtContext(ctx, p, off)
	} else {
		n, err = f.r.ReadAt(p, off)
	}
	if err != nil && err != io.EOF {
		err = f.readError(err, off)
	}
	return n, err
}

// contextReaderAt is an io.ReaderAt whose reads can be cancelled.
type contextReaderAt interface {
	ReadAtContext(ctx context.Context, p []byte, off int64) (int, error)
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
// Close, Mapping fails with [fs.ErrClosed]. Like [Tensor.Bytes]'s views,
// data faults when read past the end of a file another process truncated;
// a reader that must survive that sets debug.SetPanicOnFault around its
// reads.
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

// isURL reports whether path starts with an http or https scheme, in any
// case.
func isURL(path string) bool {
	scheme, _, ok := strings.Cut(path, "://")
	return ok && (strings.EqualFold(scheme, "http") || strings.EqualFold(scheme, "https"))
}
