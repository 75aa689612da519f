package loader

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Sentinel errors. Every error returned by this package wraps exactly one of
// them, so callers can test with [errors.Is]. The first eleven correspond to
// the reference implementation's validation steps, in the order it runs
// them; [Kind] returns the reference's name for each.
var (
	ErrHeaderTooSmall               = errors.New("header too small")
	ErrHeaderTooLarge               = errors.New("header too large")
	ErrInvalidHeaderLength          = errors.New("invalid header length")
	ErrInvalidHeader                = errors.New("invalid UTF-8 in header")
	ErrInvalidHeaderDeserialization = errors.New("invalid JSON in header")
	ErrInvalidOffset                = errors.New("invalid offset")
	ErrValidationOverflow           = errors.New("overflow computing buffer size from shape and/or element type")
	ErrMisalignedSlice              = errors.New("slice does not end at a byte boundary")
	ErrTensorInvalidInfo            = errors.New("invalid shape, data type, or offset for tensor")
	ErrMetadataIncompleteBuffer     = errors.New("incomplete metadata, file not fully covered")

	// ErrDuplicateKey reports a name given twice in the header: two tensors
	// of one name, or one metadata key twice. The reference keeps the last
	// and may accept the file; stload rejects it, since two readers of the
	// same file could otherwise see different tensors.
	ErrDuplicateKey = errors.New("duplicate key in header")
	// ErrEntryNotObject reports a tensor entry written as a positional JSON
	// array, which the reference accepts and stload rejects.
	ErrEntryNotObject = errors.New("tensor entry is not a JSON object")

	ErrTensorNotFound  = errors.New("tensor not found")
	ErrTooManySlices   = errors.New("more slicing indexes than dimensions in tensor")
	ErrSliceOutOfRange = errors.New("slice index out of range")
	ErrInvalidSlice    = errors.New("invalid slice")
	ErrReservedName    = errors.New("reserved tensor name")
	ErrClosed          = errors.New("file already closed")
	ErrIO              = errors.New("I/O error")
)

// kinds maps each sentinel to its kind name: the reference's error variant
// where one exists, else stload's own name.
var kinds = []struct {
	err  error
	kind string
}{
	{ErrHeaderTooSmall, "HeaderTooSmall"},
	{ErrHeaderTooLarge, "HeaderTooLarge"},
	{ErrInvalidHeaderLength, "InvalidHeaderLength"},
	{ErrInvalidHeader, "InvalidHeader"},
	{ErrInvalidHeaderDeserialization, "InvalidHeaderDeserialization"},
	{ErrInvalidOffset, "InvalidOffset"},
	{ErrValidationOverflow, "ValidationOverflow"},
	{ErrMisalignedSlice, "MisalignedSlice"},
	{ErrTensorInvalidInfo, "TensorInvalidInfo"},
	{ErrMetadataIncompleteBuffer, "MetadataIncompleteBuffer"},
	{ErrDuplicateKey, "DuplicateKey"},
	{ErrEntryNotObject, "EntryNotObject"},
	{ErrTensorNotFound, "TensorNotFound"},
	{ErrTooManySlices, "TooManySlices"},
	{ErrSliceOutOfRange, "SliceOutOfRange"},
	{ErrInvalidSlice, "InvalidSlice"},
	{ErrReservedName, "ReservedName"},
	{ErrNoCheckpoint, "NoCheckpoint"},
	{ErrInvalidIndex, "InvalidIndex"},
	{ErrShardMissing, "ShardMissing"},
	{ErrWeightMap, "WeightMapMismatch"},
	{ErrInsecurePath, "InsecurePath"},
	{ErrRangeUnsupported, "RangeUnsupported"},
	{ErrRemoteChanged, "RemoteChanged"},
	{ErrClosed, "Closed"},
	{ErrIO, "IoError"},
}

// Kind returns the name of the kind of err: the reference implementation's
// error variant ("HeaderTooLarge", "InvalidOffset", ...) for the errors it
// also reports, stload's own name ("DuplicateKey", "InvalidSlice", ...)
// otherwise, and "" when err wraps none of this package's sentinels.
func Kind(err error) string {
	for _, k := range kinds {
		if errors.Is(err, k.err) {
			return k.kind
		}
	}
	return ""
}

// Error is the error type of this package: a sentinel with the place it
// refers to.
type Error struct {
	// File is the path of the file, or "" when reading from an io.ReaderAt.
	File string
	// Tensor names the tensor concerned, if any.
	Tensor string
	// Offset is the absolute byte offset in the file the error refers to, or
	// -1 when no single offset applies.
	Offset int64
	// Detail says what exactly was wrong; it may be empty.
	Detail string
	// Err is one of the package's sentinel errors.
	Err error
	// Cause is an underlying error (from the operating system, say), or nil.
	Cause error
}

// Error formats the error as "stload: FILE: tensor "NAME": KIND: DETAIL (at
// byte N)", leaving out the parts that are empty.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("stload: ")
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteString(": ")
	}
	if e.Tensor != "" {
		b.WriteString("tensor ")
		b.WriteString(strconv.Quote(e.Tensor))
		b.WriteString(": ")
	}
	b.WriteString(e.Err.Error())
	if e.Detail != "" {
		b.WriteString(": ")
		b.WriteString(e.Detail)
	}
	if e.Cause != nil {
		b.WriteString(": ")
		b.WriteString(e.Cause.Error())
	}
	if e.Offset >= 0 {
		fmt.Fprintf(&b, " (at byte %d)", e.Offset)
	}
	return b.String()
}

// Unwrap returns the sentinel and, when there is one, the underlying cause,
// so that errors.Is matches both.
func (e *Error) Unwrap() []error {
	if e.Cause != nil {
		return []error{e.Err, e.Cause}
	}
	return []error{e.Err}
}

// newError returns an *Error with no offset.
func newError(sentinel error, tensor, format string, args ...any) *Error {
	return &Error{Tensor: tensor, Offset: -1, Detail: fmt.Sprintf(format, args...), Err: sentinel}
}

// at sets the error's byte offset and returns it.
func (e *Error) at(off int64) *Error {
	e.Offset = off
	return e
}
