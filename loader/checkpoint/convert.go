package checkpoint

import (
	"fmt"
	"io"

	"github.com/stload/stload/dtype"
	"github.com/stload/stload/loader"
)

// Convert returns a Source that gives the tensor of s converted to the
// element type to, value for value as [dtype.Convert] converts it, for
// [Save] or [WriteFile] to write: converting a checkpoint while saving it,
// sharded or not, needs no more memory than a conversion buffer.
//
// The bytes are converted as they stream, through a [dtype.ConvertReader].
// When s's reader has a WriteTo method, as those of [SourceOf] do, the
// writers hand it a converter to write into, so a mapped file's bytes go
// from the mapping through the conversion to the output file with no copy
// besides the conversion itself. A reader of s that is an [io.Closer] is
// closed after use.
//
// A tensor already of type to is returned as it is. A pair [dtype.Convert]
// does not convert (an integer type, say, or to a sub-byte type) fails
// with [dtype.ErrUnsupported], of kind UnsupportedConversion, naming the
// tensor.
func Convert(s Source, to dtype.DType) (Source, error) {
	if s.DType == to {
		return s, nil
	}
	from, open := s.DType, s.Open
	if _, err := dtype.ConvertedSize(0, from, to); err != nil {
		return Source{}, &loader.Error{Tensor: s.Name, Err: dtype.ErrUnsupported, Detail: fmt.Sprintf("%v to %v", from, to)}
	}
	s.DType = to
	if open == nil {
		return s, nil // copySource reports the missing Open
	}
	s.Open = func() (io.Reader, error) {
		r, err := open()
		if err != nil {
			return nil, err
		}
		cr, err := dtype.NewConvertReader(r, from, to)
		if err != nil { // checked above
			closeReader(r)
			return nil, err
		}
		return &convertingReader{ConvertReader: cr, src: r}, nil
	}
	return s, nil
}

// convertingReader is a ConvertReader that closes its source's reader.
// Its WriteTo is the ConvertReader's: copySource finds it, and it hands
// the source's own WriteTo a converting writer.
type convertingReader struct {
	*dtype.ConvertReader
	src io.Reader
}

func (r *convertingReader) Close() error { return closeReader(r.src) }

// closeReader closes r if it is an io.Closer.
func closeReader(r io.Reader) error {
	if c, ok := r.(io.Closer); ok {
		return c.Close()
	}
	return nil
}
