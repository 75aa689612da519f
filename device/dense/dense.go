// Package dense converts between the tensors of package device and
// gorgonia's *tensor.Dense (gorgonia.org/tensor): [Of] and [Float32] view
// or decode a tensor loaded on the CPU as a Dense, and [ToData] turns a
// Dense into the data that package loader's writers save.
//
// It is a package of its own so that programs which do not use gorgonia do
// not compile it: gorgonia.org/tensor brings some fifty packages (Apache
// Arrow, gonum, protobuf) that package device does not need.
package dense

import (
	"fmt"
	"unsafe"

	"gorgonia.org/tensor"

	"github.com/stload/stload/device"
	"github.com/stload/stload/dtype"
)

// Of returns a CPU tensor as a *tensor.Dense over the same memory, without
// copying, typed by its dtype: bool, uint8, int8, int16, uint16, int32,
// uint32, float32, float64, complex64, int64 or uint64. F16 and BF16 come
// as their raw bits in a uint16 Dense and the FP8 types as a uint8 Dense;
// [Float32] decodes them. BOOL is viewed as bool only when every byte is
// 0 or 1 (Go's bool admits no other bytes), and is an error otherwise. F4
// and F6 elements are not whole bytes and have no Dense form; use
// [device.Tensor.Bytes]. A tensor whose bytes are not aligned to its
// element size (possible in a view of a file whose writer did not align
// its tensors) is copied into aligned memory instead.
//
// A Dense over a view of a memory-mapped file is read-only: writing to it
// crashes the program. Load with [device.WithCopy] for writable tensors.
// The Dense is valid until the tensor's [device.Set] is closed.
func Of(t *device.Tensor) (*tensor.Dense, error) {
	if t.Memory != nil {
		return nil, errorf(t, device.ErrNotOnCPU, "a Dense needs host memory")
	}
	switch t.DType {
	case dtype.BOOL:
		for i, b := range t.Bytes() {
			if b > 1 {
				return nil, errorf(t, dtype.ErrUnsupported, "BOOL byte %d is %d, not 0 or 1", i, b)
			}
		}
		return view[bool](t)
	case dtype.U8, dtype.F8_E5M2, dtype.F8_E4M3, dtype.F8_E8M0, dtype.F8_E4M3FNUZ, dtype.F8_E5M2FNUZ:
		return view[uint8](t)
	case dtype.I8:
		return view[int8](t)
	case dtype.I16:
		return view[int16](t)
	case dtype.U16, dtype.F16, dtype.BF16:
		return view[uint16](t)
	case dtype.I32:
		return view[int32](t)
	case dtype.U32:
		return view[uint32](t)
	case dtype.F32:
		return view[float32](t)
	case dtype.F64:
		return view[float64](t)
	case dtype.C64:
		return view[complex64](t)
	case dtype.I64:
		return view[int64](t)
	case dtype.U64:
		return view[uint64](t)
	}
	return nil, errorf(t, dtype.ErrUnsupported, "%v elements are not whole bytes; use Bytes", t.DType)
}

// Float32 returns a CPU tensor decoded to float32 in new memory (a view,
// as [Of] returns, when it is F32 already): F16, BF16, the FP8, FP6 and
// FP4 types, F64 (rounded), and the integer types.
func Float32(t *device.Tensor) (*tensor.Dense, error) {
	if t.Memory != nil {
		return nil, errorf(t, device.ErrNotOnCPU, "a Dense needs host memory")
	}
	if t.DType == dtype.F32 {
		return Of(t)
	}
	out := make([]float32, elements(t))
	if err := dtype.ToFloat32(out, t.Bytes(), t.DType); err != nil {
		return nil, errorf(t, err, "")
	}
	return newDense(t, out)
}

// errorf returns a *device.Error about t.
func errorf(t *device.Tensor, sentinel error, format string, args ...any) error {
	return &device.Error{Op: "dense", Device: t.Device.String(), Tensor: t.Name,
		Detail: fmt.Sprintf(format, args...), Err: sentinel}
}

// elements returns the number of elements of t.
func elements(t *device.Tensor) int {
	n := 1
	for _, d := range t.Shape {
		n *= int(d)
	}
	return n
}

// view views t's bytes as []T, copying them when misaligned.
func view[T any](t *device.Tensor) (*tensor.Dense, error) {
	var zero T
	size := int(unsafe.Sizeof(zero))
	n := elements(t)
	data := t.Bytes()
	if len(data) != n*size {
		return nil, errorf(t, dtype.ErrLength, "%d bytes do not hold %d elements of %d bytes", len(data), n, size)
	}
	var s []T
	switch {
	case n == 0:
		s = []T{}
	case uintptr(unsafe.Pointer(unsafe.SliceData(data)))%unsafe.Alignof(zero) != 0:
		s = make([]T, n)
		copy(unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), len(data)), data)
	default:
		s = unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(data))), n)
	}
	return newDense(t, s)
}

// newDense builds the Dense; tensor.New panics on a shape that does not
// match the backing, which the checks above rule out, but a recover keeps
// a library bug from crashing the caller.
func newDense[T any](t *device.Tensor, s []T) (d *tensor.Dense, err error) {
	shape := make([]int, len(t.Shape))
	for i, x := range t.Shape {
		shape[i] = int(x)
	}
	defer func() {
		if r := recover(); r != nil {
			d, err = nil, errorf(t, dtype.ErrUnsupported, "gorgonia: %v", r)
		}
	}()
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(s)), nil
}
