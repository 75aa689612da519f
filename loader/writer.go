package loader

import (
	"cmp"
	"encoding/binary"
	"io"
	"io/fs"
	"maps"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/stload/stload/dtype"
	"github.com/stload/stload/loader/internal/nameidx"
)

// Data is one tensor to write: its element type, shape and little-endian
// bytes, which must hold exactly the shape's elements.
type Data struct {
	DType dtype.DType // element type
	Shape []uint64    // dimensions, outermost first; empty for a scalar
	Bytes []byte      // the elements, little-endian, row-major
}

// Spec declares a tensor for a [Writer]: everything but its bytes.
type Spec struct {
	Name  string      // the tensor's key in the header
	DType dtype.DType // element type
	Shape []uint64    // dimensions, outermost first; empty for a scalar
}

// SaveFile writes tensors and metadata to the named file as a safetensors
// file, byte for byte as the reference writer would: tensors ordered by
// element type (widest first) then name, no padding between them, the
// header padded with spaces to a multiple of 8, JSON escaped as
// serde_json does. The reference writes metadata keys in hash order;
// stload sorts them, so its output is deterministic. A nil metadata map
// writes no __metadata__ entry; an empty one writes {}.
//
// The write is atomic, as for [CreateFile]: a failed or interrupted save
// leaves any existing file untouched (and a File that has it mapped keeps
// reading the old bytes).
func SaveFile(path string, tensors map[string]Data, metadata map[string]string) error {
	w, err := CreateFile(path, specsOf(tensors), metadata)
	if err != nil {
		return err
	}
	w.writeData(tensors)
	return w.Close()
}

func specsOf(tensors map[string]Data) []Spec {
	specs := make([]Spec, 0, len(tensors))
	for name, d := range tensors {
		specs = append(specs, Spec{Name: name, DType: d.DType, Shape: d.Shape})
	}
	return specs
}

// writeData writes every tensor's bytes in order, checking each length.
// A failure is kept in w.err, so that Close reports it and publishes
// nothing.
func (w *Writer) writeData(tensors map[string]Data) error {
	for _, s := range w.order {
		d := tensors[s.Name]
		if size := specSize(s); int64(len(d.Bytes)) != size {
			w.err = newError(ErrTensorInvalidInfo, s.Name, "%v %v needs %s, got %d", d.DType, d.Shape, nBytes(uint64(size)), len(d.Bytes))
			return w.err
		}
		if _, err := w.Write(d.Bytes); err != nil {
			return err
		}
	}
	return nil
}

// Writer streams a safetensors file whose header is known before its
// data, so files larger than memory can be written: [NewWriter] or
// [CreateFile] writes the header, then the caller writes every tensor's
// bytes in [Writer.Tensors] order, then calls Close.
//
// It keeps a copy of the tensors' specs (about 50 bytes each), and no
// copy of the header: a header larger than 64 KiB is encoded twice, once
// to measure it and once to write it in pieces, so that writing a file of
// a million tensors holds no more than the specs.
type Writer struct {
	w        io.Writer
	order    []Spec
	cur      int   // index of the tensor being written
	curSize  int64 // its size in bytes
	inCur    int64 // bytes written of it
	err      error
	out      *target // the file CreateFile writes, or nil
	closed   bool
	closeErr error // what Close returned
}

// NewWriter validates the tensors and metadata, writes the header to w and
// returns a Writer for the data. Names must be unique, valid UTF-8 and not
// "__metadata__" (which the reference writes but cannot read back).
func NewWriter(w io.Writer, tensors []Spec, metadata map[string]string) (*Writer, error) {
	if err := checkUnique(tensors); err != nil {
		return nil, err
	}
	order := slices.Clone(tensors)
	if !slices.IsSortedFunc(order, writeOrder) {
		slices.SortFunc(order, writeOrder)
	}
	if err := writeHeader(w, order, metadata); err != nil {
		return nil, err
	}
	wr := &Writer{w: w, order: order}
	if len(order) > 0 {
		wr.curSize = specSize(order[0])
	}
	return wr, nil
}

// writeOrder compares two tensors in the order [NewWriter] writes them
// (that of [Writer.Tensors]), the reference writer's: by element type,
// the later [dtype.DType] first, then by name.
func writeOrder(a, b Spec) int {
	return cmp.Or(cmp.Compare(b.DType, a.DType), cmp.Compare(a.Name, b.Name))
}

// checkUnique fails for the first name given twice. Its index of
// positions takes a tenth of a map of the names.
func checkUnique(tensors []Spec) error {
	if i, dup := nameidx.FirstDup(len(tensors), func(i int) string { return tensors[i].Name }); dup {
		return newError(ErrDuplicateKey, tensors[i].Name, "the name is given twice")
	}
	return nil
}

// specSize returns the size in bytes of a tensor the header encoding
// accepted (and so checked not to overflow).
func specSize(s Spec) int64 {
	n, _ := byteSize(s.DType, s.Shape)
	return int64(n)
}

// Tensors returns the tensors in the order their bytes must be written.
func (w *Writer) Tensors() []Spec { return slices.Clone(w.order) }

// Write writes data bytes, continuing across tensor boundaries in
// [Writer.Tensors] order. Writing more bytes than the tensors hold is an
// error.
func (w *Writer) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	written := 0
	for len(p) > 0 {
		w.skipFull()
		if w.cur == len(w.order) {
			w.err = newError(ErrTensorInvalidInfo, "", "%d bytes written past the last tensor", len(p))
			return written, w.err
		}
		k := min(int64(len(p)), w.curSize-w.inCur)
		n, err := w.w.Write(p[:k])
		written += n
		w.inCur += int64(n)
		if err != nil {
			w.err = &Error{Tensor: w.order[w.cur].Name, Cause: err}
			return written, w.err
		}
		p = p[k:]
	}
	return written, nil
}

// skipFull moves past tensors that are complete (including empty ones).
func (w *Writer) skipFull() {
	for w.cur < len(w.order) && w.inCur == w.curSize {
		w.cur++
		w.inCur = 0
		if w.cur < len(w.order) {
			w.curSize = specSize(w.order[w.cur])
		}
	}
}

// Close checks that every tensor's bytes were written, and fails if not
// (which is also how a caller abandons a write). For a Writer from
// [NewWriter] it does not close the underlying writer. For one from
// [CreateFile] it commits the file: flushes and syncs the temporary file,
// gives it the mode of the file it replaces (a new one has the mode
// os.Create gives, 0666 less the umask) and renames it over the target,
// then syncs the directory; if anything is missing or fails, it removes
// the temporary file instead and the target is left as it was. Close
// returns the same result when called again.
func (w *Writer) Close() error {
	if w.closed {
		return w.closeErr
	}
	if w.err == nil {
		w.skipFull()
		if w.cur < len(w.order) {
			w.err = newError(ErrTensorInvalidInfo, w.order[w.cur].Name, "only %d of its %d bytes were written", w.inCur, w.curSize)
		}
	}
	file := ""
	if w.out != nil {
		file = w.out.path
		w.err = w.out.finish(w.err)
		w.out = nil
	}
	w.closed, w.closeErr = true, w.err
	if w.err == nil { // later writes fail; after a failed Close, as it did
		w.err = &Error{File: file, Err: fs.ErrClosed, Detail: "write after Close"}
	}
	return w.closeErr
}

// headerPiece is the size of the pieces a large header is written in.
const headerPiece = 64 << 10

// headerSink gathers encoded header bytes in buf and hands them to emit
// in pieces of about headerPiece bytes, counting them.
type headerSink struct {
	buf  []byte
	emit func([]byte) error // nil: count only, keeping the first piece
	n    int64              // bytes handed on (or counted) before buf
	err  error              // emit's first error
}

// spill hands on buf once it holds a piece.
func (h *headerSink) spill() {
	if len(h.buf) >= headerPiece {
		h.flush()
	}
}

// flush hands on what buf holds.
func (h *headerSink) flush() {
	if h.emit != nil && h.err == nil && len(h.buf) > 0 {
		h.err = h.emit(h.buf)
	}
	h.n += int64(len(h.buf))
	h.buf = h.buf[:0]
}

// writeHeader validates the tensors, in write order, and the metadata,
// and writes the length prefix and the padded header to w. A header of
// less than headerPiece bytes is encoded once, into memory, and written
// at once; a larger one is measured by a first encoding and written in
// pieces by a second.
func writeHeader(w io.Writer, order []Spec, metadata map[string]string) error {
	count := &headerSink{buf: make([]byte, 8, min(8+128*len(order)+64, headerPiece+4096))}
	if err := encodeHeader(count, order, metadata); err != nil {
		return err
	}
	n := count.n + int64(len(count.buf)) - 8
	pad := (8 - n%8) % 8
	if n+pad > defaultMaxHeaderSize {
		return newError(ErrHeaderTooLarge, "", "the header would be %d bytes; the limit is %d", n+pad, defaultMaxHeaderSize)
	}
	emit := func(p []byte) error { _, err := w.Write(p); return err }
	sink := count
	if count.n == 0 { // all in buf: write it
		binary.LittleEndian.PutUint64(sink.buf, uint64(n+pad))
		sink.emit = emit
	} else { // spilled: encode again, writing this time
		sink = &headerSink{buf: binary.LittleEndian.AppendUint64(count.buf[:0], uint64(n+pad)), emit: emit}
		encodeHeader(sink, order, metadata)
	}
	sink.buf = append(sink.buf, "       "[:pad]...)
	sink.flush()
	if sink.err != nil {
		return &Error{Detail: "writing the header", Cause: sink.err}
	}
	return nil
}

// encodeHeader encodes the JSON header of tensors in write order into h,
// after the 8 bytes h.buf starts with. It fails for a tensor or metadata
// entry the reference could not read back.
func encodeHeader(h *headerSink, order []Spec, metadata map[string]string) error {
	h.buf = append(h.buf, '{')
	if metadata != nil {
		keys := slices.Sorted(maps.Keys(metadata))
		h.buf = appendString(h.buf, metadataKey)
		h.buf = append(h.buf, ':', '{')
		for i, k := range keys {
			if !utf8.ValidString(k) || !utf8.ValidString(metadata[k]) {
				return newError(ErrInvalidHeader, "", "in metadata key %q or its value", k)
			}
			if i > 0 {
				h.buf = append(h.buf, ',')
			}
			h.buf = appendString(h.buf, k)
			h.buf = append(h.buf, ':')
			h.buf = appendString(h.buf, metadata[k])
			h.spill()
		}
		h.buf = append(h.buf, '}')
		if len(order) > 0 {
			h.buf = append(h.buf, ',')
		}
	}
	var off uint64
	for i, s := range order {
		if err := checkSpec(s); err != nil {
			return err
		}
		size, err := byteSize(s.DType, s.Shape)
		if err != nil {
			err.Tensor = s.Name
			return err
		}
		if i > 0 {
			h.buf = append(h.buf, ',')
		}
		h.buf = appendEntry(h.buf, s, off, off+size)
		off += size
		h.spill()
	}
	h.buf = append(h.buf, '}')
	return nil
}

// checkSpec rejects tensors the reference could not read back.
func checkSpec(s Spec) error {
	switch {
	case s.Name == metadataKey:
		return newError(ErrTensorInvalidInfo, s.Name, "the name is reserved for the metadata map")
	case !utf8.ValidString(s.Name):
		return newError(ErrInvalidHeader, s.Name, "in the name")
	case !s.DType.Valid():
		return newError(ErrTensorInvalidInfo, s.Name, "invalid element type %v", s.DType)
	}
	return nil
}

func appendEntry(buf []byte, s Spec, begin, end uint64) []byte {
	buf = appendString(buf, s.Name)
	buf = append(buf, `:{"dtype":"`...)
	buf = append(buf, s.DType.String()...)
	buf = append(buf, `","shape":[`...)
	for i, d := range s.Shape {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = strconv.AppendUint(buf, d, 10)
	}
	buf = append(buf, `],"data_offsets":[`...)
	buf = strconv.AppendUint(buf, begin, 10)
	buf = append(buf, ',')
	buf = strconv.AppendUint(buf, end, 10)
	return append(buf, ']', '}')
}

// appendString appends s as a JSON string escaped as serde_json does: only
// the quote, the backslash and control characters are escaped; everything
// else, including non-ASCII, '<', '>', '&', U+2028 and U+2029, is written
// as is.
func appendString(buf []byte, s string) []byte {
	const hex = "0123456789abcdef"
	buf = append(buf, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		buf = append(buf, s[start:i]...)
		switch c {
		case '"', '\\':
			buf = append(buf, '\\', c)
		case '\b':
			buf = append(buf, '\\', 'b')
		case '\f':
			buf = append(buf, '\\', 'f')
		case '\n':
			buf = append(buf, '\\', 'n')
		case '\r':
			buf = append(buf, '\\', 'r')
		case '\t':
			buf = append(buf, '\\', 't')
		default:
			buf = append(buf, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	buf = append(buf, s[start:]...)
	return append(buf, '"')
}
