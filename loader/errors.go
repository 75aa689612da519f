package loader

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
)

// kinded is the type of the package's sentinel errors: a message, and the
// name [Kind] reports for it.
type kinded struct{ msg, kind string }

func (e *kinded) Error() string { return e.msg }
func (e *kinded) Kind() string  { return e.kind }

// Sentinel errors. Every error of this package about a file's contents
// wraps exactly one of them, so callers can test with [errors.Is]. The
// first ten correspond to the reference implementation's validation
// steps, in the order it runs them, and [Kind] returns the reference's
// name for each. A closed [File] reports [fs.ErrClosed]; a failed read or
// write is an [*Error] with a Cause and none of these sentinels.
var (
	ErrHeaderTooSmall               error = &kinded{"header too small", "HeaderTooSmall"}
	ErrHeaderTooLarge               error = &kinded{"header too large", "HeaderTooLarge"}
	ErrInvalidHeaderLength          error = &kinded{"invalid header length", "InvalidHeaderLength"}
	ErrInvalidHeader                error = &kinded{"invalid UTF-8 in header", "InvalidHeader"}
	ErrInvalidHeaderDeserialization error = &kinded{"invalid JSON in header", "InvalidHeaderDeserialization"}
	ErrInvalidOffset                error = &kinded{"invalid offset", "InvalidOffset"}
	ErrValidationOverflow           error = &kinded{"overflow computing buffer size from shape and/or element type", "ValidationOverflow"}
	ErrMisalignedSlice              error = &kinded{"slice does not end at a byte boundary", "MisalignedSlice"}
	ErrTensorInvalidInfo            error = &kinded{"invalid shape, data type, or offset for tensor", "TensorInvalidInfo"}
	ErrMetadataIncompleteBuffer     error = &kinded{"incomplete metadata, file not fully covered", "MetadataIncompleteBuffer"}

	// ErrDuplicateKey reports a name given twice in the header: two tensors
	// of one name, or one metadata key twice. The reference keeps the last
	// and may accept the file; stload rejects it, since two readers of the
	// same file could otherwise see different tensors.
	ErrDuplicateKey error = &kinded{"duplicate key in header", "DuplicateKey"}
	// ErrEntryNotObject reports a tensor entry written as a positional JSON
	// array, which the reference accepts and stload rejects.
	ErrEntryNotObject error = &kinded{"tensor entry is not a JSON object", "EntryNotObject"}

	// ErrTensorNotFound reports a tensor name the file does not hold.
	ErrTensorNotFound error = &kinded{"tensor not found", "TensorNotFound"}
	// ErrTooManySlices reports more slice indexes than the tensor has
	// dimensions.
	ErrTooManySlices error = &kinded{"more slicing indexes than dimensions in tensor", "TooManySlices"}
	// ErrSliceOutOfRange reports a slice index beyond its dimension.
	ErrSliceOutOfRange error = &kinded{"slice index out of range", "SliceOutOfRange"}
	// ErrInvalidSlice reports a slice spec that cannot be parsed or makes
	// no sense: a range that starts after it stops, a negative or zero
	// step.
	ErrInvalidSlice error = &kinded{"invalid slice", "InvalidSlice"}
)

// Kind returns the name of the kind of err, the one table of kinds that
// stload's packages and its command share: the kind of the first error in
// err's chain that has a Kind() string method (every sentinel of stload's
// packages has one: "HeaderTooLarge", "InvalidOffset" and the reference's
// other variant names for the format's errors, stload's own names such as
// "DuplicateKey", "ShardMissing" or "NoDevice" otherwise); else "Canceled"
// or "DeadlineExceeded" for a context's errors, "Closed" for
// [fs.ErrClosed], and "IoError" for any other error. Kind(nil) is "".
func Kind(err error) string {
	if err == nil {
		return ""
	}
	var k interface{ Kind() string }
	switch {
	case errors.As(err, &k):
		return k.Kind()
	case errors.Is(err, context.Canceled):
		return "Canceled"
	case errors.Is(err, context.DeadlineExceeded):
		return "DeadlineExceeded"
	case errors.Is(err, fs.ErrClosed):
		return "Closed"
	}
	return "IoError"
}

// Error is the error type of stload's file packages (this one,
// loader/httprange and loader/checkpoint): a sentinel, or an underlying
// cause, with the place it refers to.
type Error struct {
	// File is the path or URL of the file, or "" when unknown.
	File string
	// Tensor names the tensor concerned, if any.
	Tensor string
	// Offset is the absolute byte offset in the file the error refers to;
	// 0 means that no single offset applies.
	Offset int64
	// Detail says what exactly was wrong; it may be empty.
	Detail string
	// Err is a sentinel error ([ErrInvalidOffset], say, or a sentinel of
	// the package that returned the error), or [fs.ErrClosed]; it is nil
	// for a failed read or write, which Cause describes.
	Err error
	// Cause is an underlying error (from the operating system, say), or nil.
	Cause error
}

// Error formats the error as "FILE: tensor "NAME": SENTINEL: DETAIL: CAUSE
// (at byte N)", leaving out the parts that are empty. A cause that is
// itself an *Error, or an [*fs.PathError] about the same file, does not
// repeat the file or the tensor.
func (e *Error) Error() string {
	var b strings.Builder
	e.format(&b, "", "")
	return b.String()
}

// format writes the error, leaving out a file and a tensor that the error
// wrapping it already named.
func (e *Error) format(b *strings.Builder, file, tensor string) {
	if e.File != "" && e.File != file {
		b.WriteString(e.File)
		b.WriteString(": ")
	}
	if e.Tensor != "" && e.Tensor != tensor {
		b.WriteString("tensor ")
		b.WriteString(strconv.Quote(e.Tensor))
		b.WriteString(": ")
	}
	sep := ""
	if e.Err != nil {
		b.WriteString(e.Err.Error())
		sep = ": "
	}
	if e.Detail != "" {
		b.WriteString(sep)
		b.WriteString(e.Detail)
		sep = ": "
	}
	if e.Cause != nil {
		b.WriteString(sep)
		e.formatCause(b, cmp.Or(e.File, file), cmp.Or(e.Tensor, tensor))
	}
	if e.Offset != 0 {
		fmt.Fprintf(b, " (at byte %d)", e.Offset)
	}
}

// formatCause writes the error's cause, leaving out a file and a tensor
// already named: those of an *Error, the path of an *fs.PathError (the
// operating system's errors name the file too).
func (e *Error) formatCause(b *strings.Builder, file, tensor string) {
	switch c := e.Cause.(type) {
	case *Error:
		c.format(b, file, tensor)
	case *fs.PathError:
		if c.Path != file {
			b.WriteString(c.Error())
			return
		}
		b.WriteString(c.Op)
		b.WriteString(": ")
		b.WriteString(c.Err.Error())
	default:
		b.WriteString(e.Cause.Error())
	}
}

// Unwrap returns the sentinel and the underlying cause, those that are
// set, so that errors.Is matches both.
func (e *Error) Unwrap() []error {
	switch {
	case e.Err == nil && e.Cause == nil:
		return nil
	case e.Err == nil:
		return []error{e.Cause}
	case e.Cause == nil:
		return []error{e.Err}
	}
	return []error{e.Err, e.Cause}
}

// newError returns an *Error with no offset.
func newError(sentinel error, tensor, format string, args ...any) *Error {
	return &Error{Tensor: tensor, Detail: fmt.Sprintf(format, args...), Err: sentinel}
}

// at sets the error's byte offset and returns it.
func (e *Error) at(off int64) *Error {
	e.Offset = off
	return e
}

// inline formats the error without its file, with its offset in the
// text, for quoting inside another error's detail.
func (e *Error) inline() string {
	var b strings.Builder
	e.format(&b, e.File, "")
	s := strings.TrimSuffix(b.String(), fmt.Sprintf(" (at byte %d)", e.Offset))
	if e.Offset != 0 {
		s += fmt.Sprintf(", at byte %d", e.Offset)
	}
	return s
}

// closedError is the error of a use of a closed file.
func closedError(file string) *Error {
	return &Error{File: file, Err: fs.ErrClosed}
}
