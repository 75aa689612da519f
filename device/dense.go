package device

import (
	"fmt"
	"unsafe"

	"gorgonia.org/tensor"

	"github.com/stload/stload/dtype"
)

// Dense returns a CPU tensor as a gorgonia *tensor.Dense over the same
// memory, without copying, typed by its dtype: bool, uint8, int8, int16,
// uint16, int32, uint32, float32, float64, complex64, int64 or uint64. F16
// and BF16 come as their raw bits in a uint16 Dense and the FP8 types as a
// uint8 Dense; [Tensor.DenseFloat32] decodes them. BOOL is viewed as bool
// only when every byte is 0 or 1 (Go's bool admits no other bytes), and is
// an error otherwise. F4 and F6 elements are not whole bytes and have no
// Dense form; use [Tensor.Bytes]. A tensor whose bytes are not aligned to
// its element size (possible in a view of a file whose writer did not
// order tensors by alignment) is copied into aligned memory instead.
//
// A Dense over a view of a memory-mapped file is read-only: writing to it
// crashes the program. Load with [WithCopy] for writable tensors.
func (t *Tensor) Dense() (*tensor.Dense, error) {
	if t.Memory != nil {
		return nil, t.errorf(ErrNotOnCPU, "Dense")
	}
	switch t.DType {
	case dtype.BOOL:
		for i, b := range t.data {
			if b > 1 {
				return nil, t.errorf(ErrConvert, "BOOL byte %d is %d, not 0 or 1", i, b)
			}
		}
		return dense[bool](t)
	case dtype.U8, dtype.F8_E5M2, dtype.F8_E4M3, dtype.F8_E8M0, dtype.F8_E4M3FNUZ, dtype.F8_E5M2FNUZ:
		return dense[uint8](t)
	case dtype.I8:
		return dense[int8](t)
	case dtype.I16:
		return dense[int16](t)
	case dtype.U16, dtype.F16, dtype.BF16:
		return dense[uint16](t)
	case dtype.I32:
		return dense[int32](t)
	case dtype.U32:
		return dense[uint32](t)
	case dtype.F32:
		return dense[float32](t)
	case dtype.F64:
		return dense[float64](t)
	case dtype.C64:
		return dense[complex64](t)
	case dtype.I64:
		return dense[int64](t)
	case dtype.U64:
		return dense[uint64](t)
	}
	return nil, t.errorf(ErrConvert, "%v elements are not whole bytes; use Bytes", t.DType)
}

// DenseFloat32 returns a CPU tensor decoded to float32 in new memory (a
// view, as Dense, when it is F32 already): F16, BF16, the FP8, FP6 and FP4
// types, F64 (rounded), and the integer types.
func (t *Tensor) DenseFloat32() (*tensor.Dense, error) {
	if t.Memory != nil {
		return nil, t.errorf(ErrNotOnCPU, "DenseFloat32")
	}
	if t.DType == dtype.F32 {
		return t.Dense()
	}
	out := make([]float32, t.elements())
	if err := dtype.ToFloat32(out, t.data, t.DType); err != nil {
		return nil, t.errorf(ErrConvert, "%v", err)
	}
	return newDense(t, out)
}

func (t *Tensor) errorf(sentinel error, format string, args ...any) error {
	return &Error{Op: "tensor", Device: t.Device.String(), Tensor: t.Name,
		Detail: fmt.Sprintf(format, args...), Err: sentinel}
}

func (t *Tensor) elements() int {
	n := 1
	for _, d := range t.Shape {
		n *= int(d)
	}
	return n
}

// dense views t's bytes as []T, copying them when misaligned.
func dense[T any](t *Tensor) (*tensor.Dense, error) {
	var zero T
	size := int(unsafe.Sizeof(zero))
	n := t.elements()
	if len(t.data) != n*size {
		return nil, t.errorf(ErrConvert, "%d bytes do not hold %d elements of %d bytes", len(t.data), n, size)
	}
	var s []T
	switch {
	case n == 0:
		s = []T{}
	case uintptr(unsafe.Pointer(unsafe.SliceData(t.data)))%unsafe.Alignof(zero) != 0:
		s = make([]T, n)
		copy(unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), len(t.data)), t.data)
	default:
		s = unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(t.data))), n)
	}
	return newDense(t, s)
}

// newDense builds the Dense; tensor.New panics on a shape that does not
// match the backing, which the checks above rule out, but a recover keeps
// a library bug from crashing the caller.
func newDense[T any](t *Tensor, s []T) (d *tensor.Dense, err error) {
	shape := make([]int, len(t.Shape))
	for i, x := range t.Shape {
		shape[i] = int(x)
	}
	defer func() {
		if r := recover(); r != nil {
			d, err = nil, t.errorf(ErrConvert, "gorgonia: %v", r)
		}
	}()
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(s)), nil
}
