package device

import (
	"errors"
	"strconv"
	"strings"
)

// Sentinel errors. Errors returned by this package are [*Error] values that
// wrap one of these (or a context error, or the backend's own error), so
// callers can test them with [errors.Is].
var (
	// ErrBadDevice reports a device name that cannot be parsed.
	ErrBadDevice = errors.New("invalid device name")
	// ErrNoBackend reports a device whose backend is not in this build,
	// typically a GPU asked of a binary built without -tags cuda.
	ErrNoBackend = errors.New("backend not available")
	// ErrNoDevice reports a device index at or beyond the backend's count.
	ErrNoDevice = errors.New("no such device")
	// ErrPlacement reports a placement that cannot be carried out: a bad
	// pattern, a split of a dimension the tensor lacks, a split that does
	// not fall on a byte boundary, a tensor name given by two files.
	ErrPlacement = errors.New("invalid placement")
	// ErrConvert reports a dtype conversion that does not exist.
	ErrConvert = errors.New("unsupported conversion")
	// ErrOutOfMemory reports that a placement needs more device memory than
	// the device has free.
	ErrOutOfMemory = errors.New("not enough device memory")
	// ErrMismatch reports that [Set.Verify] found tensor bytes on a device
	// that differ from the file's.
	ErrMismatch = errors.New("device bytes differ from the file")
	// ErrNotOnCPU reports a host-side accessor called on a tensor that lives
	// on an accelerator.
	ErrNotOnCPU = errors.New("tensor is not on the CPU")
	// ErrClosed reports use of a [Set] or [Loader] after Close.
	ErrClosed = errors.New("already closed")
)

// Error is the error type of this package: what went wrong, and where.
type Error struct {
	// Op is the step that failed: "parse", "plan", "alloc", "read", "copy",
	// "load", "verify", ...
	Op string
	// Device is the device concerned ("cuda:1"), or "".
	Device string
	// File is the path of the file concerned, or "".
	File string
	// Tensor names the tensor concerned, or "".
	Tensor string
	// Detail says what exactly was wrong; it may be empty.
	Detail string
	// Err is the underlying error: a sentinel of this package, a context
	// error, or a backend's or loader's error.
	Err error
}

// Error formats the error as "stload: device D: FILE: tensor "T": OP:
// DETAIL: ERR", leaving out the parts that are empty.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("stload: ")
	if e.Device != "" {
		b.WriteString("device ")
		b.WriteString(e.Device)
		b.WriteString(": ")
	}
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteString(": ")
	}
	if e.Tensor != "" {
		b.WriteString("tensor ")
		b.WriteString(strconv.Quote(e.Tensor))
		b.WriteString(": ")
	}
	b.WriteString(e.Op)
	if e.Detail != "" {
		b.WriteString(": ")
		b.WriteString(e.Detail)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }
