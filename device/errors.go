package device

import (
	"errors"
	"strconv"
	"strings"

	"github.com/stload/stload/loader"
)

// kinded is the type of the package's sentinel errors: a message, and the
// name [loader.Kind] reports for it.
type kinded struct{ msg, kind string }

func (e *kinded) Error() string { return e.msg }
func (e *kinded) Kind() string  { return e.kind }

// Sentinel errors. Errors returned by this package are [*Error] values that
// wrap one of these (or a context error, or the backend's own error), so
// callers can test them with [errors.Is]; [loader.Kind] names each by the
// name given with it.
var (
	// ErrBadDevice reports a device name that cannot be parsed.
	ErrBadDevice error = &kinded{"invalid device name", "BadDevice"}
	// ErrNoBackend reports a device whose backend is not in this build,
	// typically a GPU asked of a binary built without -tags cuda.
	ErrNoBackend error = &kinded{"backend not available", "NoBackend"}
	// ErrNoDevice reports a device index at or beyond the backend's count.
	ErrNoDevice error = &kinded{"no such device", "NoDevice"}
	// ErrPlacement reports a load that cannot be carried out as asked: a
	// bad option or pattern, a split of a dimension the tensor lacks, a
	// split that does not fall on a byte boundary, a tensor name given by
	// two files, a nil Source or file.
	ErrPlacement error = &kinded{"invalid placement", "InvalidPlacement"}
	// ErrOutOfMemory reports that a placement needs more device memory than
	// the device has free, or that an allocation of device memory or of
	// pinned host memory failed for want of memory (a backend's own
	// out-of-memory error, CUDA_ERROR_OUT_OF_MEMORY say, is wrapped so that
	// errors.Is finds this too).
	ErrOutOfMemory error = &kinded{"out of memory", "OutOfMemory"}
	// ErrMismatch reports that [Set.Verify] found tensor bytes on a device
	// that differ from the file's.
	ErrMismatch error = &kinded{"device bytes differ from the file", "Mismatch"}
	// ErrNotOnCPU reports a host-side accessor called on a tensor that lives
	// on an accelerator.
	ErrNotOnCPU error = &kinded{"tensor is not on the CPU", "NotOnCPU"}
)

// A [Set] or [Placer] used after Close, or a file closed before its load
// ran, is reported with an *Error wrapping [io/fs.ErrClosed], as package
// loader reports closed files.

// backendError returns err, an error of a backend's allocation, such that
// errors.As finds [ErrOutOfMemory]'s kind in it when errors.Is finds
// ErrOutOfMemory: a backend may report running out of memory with an
// error of its own that only matches the sentinel (the cuda backend's
// CUDA_ERROR_OUT_OF_MEMORY does), and loader.Kind must still say
// "OutOfMemory".
func backendError(err error) error {
	var k interface{ Kind() string }
	if errors.Is(err, ErrOutOfMemory) && !(errors.As(err, &k) && k.Kind() == "OutOfMemory") {
		return outOfMemory{err}
	}
	return err
}

// outOfMemory is a backend's out-of-memory error given the kind
// "OutOfMemory", with its message as it is: the backend's text already
// says it ran out ("CUDA_ERROR_OUT_OF_MEMORY"), so nothing is added.
type outOfMemory struct{ error }

func (outOfMemory) Kind() string    { return "OutOfMemory" }
func (e outOfMemory) Unwrap() error { return e.error }

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

// Error formats the error as "device D: FILE: tensor "T": OP: DETAIL:
// ERR", leaving out the parts that are empty. An ERR that is a
// [*loader.Error] does not repeat the file or the tensor.
func (e *Error) Error() string {
	var b strings.Builder
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
		b.WriteString(e.cause())
	}
	return b.String()
}

// cause formats e.Err, less the file and tensor e already names.
func (e *Error) cause() string {
	le, ok := e.Err.(*loader.Error)
	if !ok || (le.File != e.File && le.Tensor != e.Tensor) {
		return e.Err.Error()
	}
	c := *le
	if c.File == e.File {
		c.File = ""
	}
	if c.Tensor == e.Tensor {
		c.Tensor = ""
	}
	return c.Error()
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }
