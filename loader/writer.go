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
	for i, s := range w.order {
		d := tensors[s.Name]
		if int64(len(d.Bytes)) != w.sizes[i] {
			w.err = newError(ErrTensorInvalidInfo, s.Name, "%v %v needs %s, got %d", d.DType, d.Shape, nBytes(uint64(w.sizes[i])), len(d.Bytes))
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
type Writer struct {
	w        io.Writer
	order    []Spec
	sizes    []int64
	cur      int   // index of the tensor being written
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
	seen := make(map[string]bool, len(tensors))
	for _, t := range tensors {
		if seen[t.Name] {
			return nil, newError(ErrDuplicateKey, t.Name, "the name is given twice")
		}
		seen[t.Name] = true
	}
	order := slices.Clone(tensors)
	slices.SortFunc(order, func(a, b Spec) int {
		return cmp.Or(cmp.Compare(b.DType, a.DType), cmp.Compare(a.Name, b.Name))
	})
	hdr, sizes, err := encodeHeader(order, metadata)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(hdr); err != nil {
		return nil, &Error{Detail: "writing the header", Cause: err}
	}
	return &Writer{w: w, order: order, sizes: sizes}, nil
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
		k := min(int64(len(p)), w.sizes[w.cur]-w.inCur)
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
	for w.cur < len(w.order) && w.inCur == w.sizes[w.cur] {
		w.cur++
		w.inCur = 0
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
			w.err = newError(ErrTensorInvalidInfo, w.order[w.cur].Name, "only %d of its %d bytes were written", w.inCur, w.sizes[w.cur])
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

// encodeHeader returns the length prefix and padded header for tensors in
// write order, and each tensor's size in bytes.
func encodeHeader(order []Spec, metadata map[string]string) ([]byte, []int64, error) {
	buf := make([]byte, 8, 8+64*len(order)+64)
	buf = append(buf, '{')
	if metadata != nil {
		keys := slices.Sorted(maps.Keys(metadata))
		buf = appendString(buf, metadataKey)
		buf = append(buf, ':', '{')
		for i, k := range keys {
			if !utf8.ValidString(k) || !utf8.ValidString(metadata[k]) {
				return nil, nil, newError(ErrInvalidHeader, "", "in metadata key %q or its value", k)
			}
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = appendString(buf, k)
			buf = append(buf, ':')
			buf = appendString(buf, metadata[k])
		}
		buf = append(buf, '}')
		if len(order) > 0 {
			buf = append(buf, ',')
		}
	}
	sizes := make([]int64, len(order))
	var off uint64
	for i, s := range order {
		if err := checkSpec(s); err != nil {
			return nil, nil, err
		}
		size, err := byteSize(s.DType, s.Shape)
		if err != nil {
			err.Tensor = s.Name
			return nil, nil, err
		}
		sizes[i] = int64(size)
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = appendEntry(buf, s, off, off+size)
		off += size
	}
	buf = append(buf, '}')
	for (len(buf)-8)%8 != 0 {
		buf = append(buf, ' ')
	}
	n := len(buf) - 8
	if n > defaultMaxHeaderSize {
		return nil, nil, newError(ErrHeaderTooLarge, "", "the header would be %d bytes; the limit is %d", n, defaultMaxHeaderSize)
	}
	binary.LittleEndian.PutUint64(buf, uint64(n))
	return buf, sizes, nil
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
