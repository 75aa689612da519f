//go:build cuda

package cuda

import (
	"errors"
	"fmt"
	"reflect"

	"github.com/stload/stload/device"
)

// cuResult is a CUresult status code of the CUDA driver API. It implements
// error, so a driver failure wrapped in an *opError can be tested with
// errors.Is(err, resOutOfMemory), and CUDA_ERROR_OUT_OF_MEMORY also with
// errors.Is(err, device.ErrOutOfMemory).
type cuResult int

// The driver results this package tests for. Any other code is still
// reported with its cuda.h name by cuResult.Name.
const (
	resSuccess                     cuResult = 0   // CUDA_SUCCESS
	resInvalidValue                cuResult = 1   // CUDA_ERROR_INVALID_VALUE
	resOutOfMemory                 cuResult = 2   // CUDA_ERROR_OUT_OF_MEMORY
	resNotInitialized              cuResult = 3   // CUDA_ERROR_NOT_INITIALIZED
	resNoDevice                    cuResult = 100 // CUDA_ERROR_NO_DEVICE
	resInvalidDevice               cuResult = 101 // CUDA_ERROR_INVALID_DEVICE
	resInvalidContext              cuResult = 201 // CUDA_ERROR_INVALID_CONTEXT
	resInvalidHandle               cuResult = 400 // CUDA_ERROR_INVALID_HANDLE
	resNotReady                    cuResult = 600 // CUDA_ERROR_NOT_READY
	resIllegalAddress              cuResult = 700 // CUDA_ERROR_ILLEGAL_ADDRESS
	resHostMemoryAlreadyRegistered cuResult = 712 // CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED
	resHostMemoryNotRegistered     cuResult = 713 // CUDA_ERROR_HOST_MEMORY_NOT_REGISTERED
	resNotPermitted                cuResult = 800 // CUDA_ERROR_NOT_PERMITTED
	resNotSupported                cuResult = 801 // CUDA_ERROR_NOT_SUPPORTED
	resUnknown                     cuResult = 999 // CUDA_ERROR_UNKNOWN
)

// Name returns the cuda.h name of r, such as "CUDA_ERROR_OUT_OF_MEMORY". For
// a code newer than this package's table it asks the installed driver
// (cuGetErrorName), and failing that returns "CUDA_ERROR_UNRECOGNIZED_<n>".
func (r cuResult) Name() string {
	if n, ok := resultNames[r]; ok {
		return n
	}
	if n := driverErrorName(r); n != "" {
		return n
	}
	return fmt.Sprintf("CUDA_ERROR_UNRECOGNIZED_%d", int(r))
}

// Error returns the name, the number and the driver's description of r:
// "CUDA_ERROR_OUT_OF_MEMORY (2): out of memory".
func (r cuResult) Error() string {
	if s := driverErrorString(r); s != "" {
		return fmt.Sprintf("%s (%d): %s", r.Name(), int(r), s)
	}
	return fmt.Sprintf("%s (%d)", r.Name(), int(r))
}

// Is reports whether r is target, or is CUDA_ERROR_OUT_OF_MEMORY and target
// is device.ErrOutOfMemory: the device package asks backends to report
// running out of memory so, and its own error then carries the kind
// "OutOfMemory".
func (r cuResult) Is(target error) bool {
	return r == resOutOfMemory && target == device.ErrOutOfMemory
}

// Errors this package reports for misuse, wrapped in an *opError that names
// the device and the operation. Test for them with errors.Is.
var (
	// errClosed: the accelerator, stream or event was closed.
	errClosed = errors.New("already closed")
	// errFreed: the device or host memory was freed.
	errFreed = errors.New("memory already freed")
	// errNotPinned: a copy's source does not lie inside page-locked host
	// memory obtained from this accelerator (AllocHost or registerHost).
	errNotPinned = errors.New("source is not in page-locked host memory of this device")
	// errForeign: the Memory was not allocated by this accelerator.
	errForeign = errors.New("memory belongs to another device or backend")
	// errInvalidCopy: the copy's sizes, pitches or offsets are inconsistent
	// or out of range.
	errInvalidCopy = errors.New("invalid copy")
	// errInvalidSize: a negative or unsupported allocation size.
	errInvalidSize = errors.New("invalid size")
)

// opError is the error type of this package: what failed (Op) on which device,
// and why (Err, a cuResult from the driver or one of the err* variables).
type opError struct {
	Device int    // device ordinal, -1 if no device is concerned; device.Error names it
	Op     string // the driver call or step: "cuMemAlloc 1.0 GiB", "copy", "event wait", ...
	Err    error  // the cause
}

// Error formats e as "op: cause". It leaves the device out: every error
// of this package reaches callers through package device, whose
// *device.Error names the device ("device cuda:1: ...") once.
func (e *opError) Error() string {
	return e.Op + ": " + e.Err.Error()
}

// Unwrap returns the cause, so errors.Is and errors.As see it.
func (e *opError) Unwrap() error { return e.Err }

// newError wraps err (a gorgonia.org/cu error, a C.CUresult converted to
// cuResult, or one of our sentinels) in an *opError, or returns nil for nil.
func newError(dev int, op string, err error) error {
	if err == nil {
		return nil
	}
	return &opError{Device: dev, Op: op, Err: asResult(err)}
}

// asResult converts an error returned by gorgonia.org/cu into a cuResult.
// gorgonia reports driver failures as its unexported integer type cuResult,
// whose message is only a Go-ish name ("OutOfMemory") and which prints
// "UnknownErrorCode:N" for codes it does not know; the numeric code is all we
// need, and reflection is the one way to read it without forking gorgonia.
func asResult(err error) error {
	v := reflect.ValueOf(err)
	if v.Kind() == reflect.Int && v.Type().PkgPath() == "gorgonia.org/cu" {
		return cuResult(v.Int())
	}
	return err
}

// formatBytes prints n in binary units for error messages ("1.5 GiB").
func formatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// resultNames maps CUresult codes to their names in cuda.h (CUDA 12.4, a
// superset of 11.8). Codes added by later drivers are named by the driver.
var resultNames = map[cuResult]string{
	0:   "CUDA_SUCCESS",
	1:   "CUDA_ERROR_INVALID_VALUE",
	2:   "CUDA_ERROR_OUT_OF_MEMORY",
	3:   "CUDA_ERROR_NOT_INITIALIZED",
	4:   "CUDA_ERROR_DEINITIALIZED",
	5:   "CUDA_ERROR_PROFILER_DISABLED",
	6:   "CUDA_ERROR_PROFILER_NOT_INITIALIZED",
	7:   "CUDA_ERROR_PROFILER_ALREADY_STARTED",
	8:   "CUDA_ERROR_PROFILER_ALREADY_STOPPED",
	34:  "CUDA_ERROR_STUB_LIBRARY",
	46:  "CUDA_ERROR_DEVICE_UNAVAILABLE",
	100: "CUDA_ERROR_NO_DEVICE",
	101: "CUDA_ERROR_INVALID_DEVICE",
	102: "CUDA_ERROR_DEVICE_NOT_LICENSED",
	200: "CUDA_ERROR_INVALID_IMAGE",
	201: "CUDA_ERROR_INVALID_CONTEXT",
	202: "CUDA_ERROR_CONTEXT_ALREADY_CURRENT",
	205: "CUDA_ERROR_MAP_FAILED",
	206: "CUDA_ERROR_UNMAP_FAILED",
	207: "CUDA_ERROR_ARRAY_IS_MAPPED",
	208: "CUDA_ERROR_ALREADY_MAPPED",
	209: "CUDA_ERROR_NO_BINARY_FOR_GPU",
	210: "CUDA_ERROR_ALREADY_ACQUIRED",
	211: "CUDA_ERROR_NOT_MAPPED",
	212: "CUDA_ERROR_NOT_MAPPED_AS_ARRAY",
	213: "CUDA_ERROR_NOT_MAPPED_AS_POINTER",
	214: "CUDA_ERROR_ECC_UNCORRECTABLE",
	215: "CUDA_ERROR_UNSUPPORTED_LIMIT",
	216: "CUDA_ERROR_CONTEXT_ALREADY_IN_USE",
	217: "CUDA_ERROR_PEER_ACCESS_UNSUPPORTED",
	218: "CUDA_ERROR_INVALID_PTX",
	219: "CUDA_ERROR_INVALID_GRAPHICS_CONTEXT",
	220: "CUDA_ERROR_NVLINK_UNCORRECTABLE",
	221: "CUDA_ERROR_JIT_COMPILER_NOT_FOUND",
	222: "CUDA_ERROR_UNSUPPORTED_PTX_VERSION",
	223: "CUDA_ERROR_JIT_COMPILATION_DISABLED",
	224: "CUDA_ERROR_UNSUPPORTED_EXEC_AFFINITY",
	225: "CUDA_ERROR_UNSUPPORTED_DEVSIDE_SYNC",
	300: "CUDA_ERROR_INVALID_SOURCE",
	301: "CUDA_ERROR_FILE_NOT_FOUND",
	302: "CUDA_ERROR_SHARED_OBJECT_SYMBOL_NOT_FOUND",
	303: "CUDA_ERROR_SHARED_OBJECT_INIT_FAILED",
	304: "CUDA_ERROR_OPERATING_SYSTEM",
	400: "CUDA_ERROR_INVALID_HANDLE",
	401: "CUDA_ERROR_ILLEGAL_STATE",
	402: "CUDA_ERROR_LOSSY_QUERY",
	500: "CUDA_ERROR_NOT_FOUND",
	600: "CUDA_ERROR_NOT_READY",
	700: "CUDA_ERROR_ILLEGAL_ADDRESS",
	701: "CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES",
	702: "CUDA_ERROR_LAUNCH_TIMEOUT",
	703: "CUDA_ERROR_LAUNCH_INCOMPATIBLE_TEXTURING",
	704: "CUDA_ERROR_PEER_ACCESS_ALREADY_ENABLED",
	705: "CUDA_ERROR_PEER_ACCESS_NOT_ENABLED",
	708: "CUDA_ERROR_PRIMARY_CONTEXT_ACTIVE",
	709: "CUDA_ERROR_CONTEXT_IS_DESTROYED",
	710: "CUDA_ERROR_ASSERT",
	711: "CUDA_ERROR_TOO_MANY_PEERS",
	712: "CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED",
	713: "CUDA_ERROR_HOST_MEMORY_NOT_REGISTERED",
	714: "CUDA_ERROR_HARDWARE_STACK_ERROR",
	715: "CUDA_ERROR_ILLEGAL_INSTRUCTION",
	716: "CUDA_ERROR_MISALIGNED_ADDRESS",
	717: "CUDA_ERROR_INVALID_ADDRESS_SPACE",
	718: "CUDA_ERROR_INVALID_PC",
	719: "CUDA_ERROR_LAUNCH_FAILED",
	720: "CUDA_ERROR_COOPERATIVE_LAUNCH_TOO_LARGE",
	800: "CUDA_ERROR_NOT_PERMITTED",
	801: "CUDA_ERROR_NOT_SUPPORTED",
	802: "CUDA_ERROR_SYSTEM_NOT_READY",
	803: "CUDA_ERROR_SYSTEM_DRIVER_MISMATCH",
	804: "CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE",
	805: "CUDA_ERROR_MPS_CONNECTION_FAILED",
	806: "CUDA_ERROR_MPS_RPC_FAILURE",
	807: "CUDA_ERROR_MPS_SERVER_NOT_READY",
	808: "CUDA_ERROR_MPS_MAX_CLIENTS_REACHED",
	809: "CUDA_ERROR_MPS_MAX_CONNECTIONS_REACHED",
	810: "CUDA_ERROR_MPS_CLIENT_TERMINATED",
	811: "CUDA_ERROR_CDP_NOT_SUPPORTED",
	812: "CUDA_ERROR_CDP_VERSION_MISMATCH",
	900: "CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED",
	901: "CUDA_ERROR_STREAM_CAPTURE_INVALIDATED",
	902: "CUDA_ERROR_STREAM_CAPTURE_MERGE",
	903: "CUDA_ERROR_STREAM_CAPTURE_UNMATCHED",
	904: "CUDA_ERROR_STREAM_CAPTURE_UNJOINED",
	905: "CUDA_ERROR_STREAM_CAPTURE_ISOLATION",
	906: "CUDA_ERROR_STREAM_CAPTURE_IMPLICIT",
	907: "CUDA_ERROR_CAPTURED_EVENT",
	908: "CUDA_ERROR_STREAM_CAPTURE_WRONG_THREAD",
	909: "CUDA_ERROR_TIMEOUT",
	910: "CUDA_ERROR_GRAPH_EXEC_UPDATE_FAILURE",
	911: "CUDA_ERROR_EXTERNAL_DEVICE",
	912: "CUDA_ERROR_INVALID_CLUSTER_SIZE",
	913: "CUDA_ERROR_FUNCTION_NOT_LOADED",
	914: "CUDA_ERROR_INVALID_RESOURCE_TYPE",
	915: "CUDA_ERROR_INVALID_RESOURCE_CONFIGURATION",
	999: "CUDA_ERROR_UNKNOWN",
}
