package dense

import (
	"fmt"

	"gorgonia.org/tensor"

	"github.com/stload/stload/device"
	"github.com/stload/stload/dtype"
	"github.com/stload/stload/loader"
)

// ToData returns d as the data of one tensor, as [loader.SaveFile] and
// [loader.Writer] take it: its shape, and its elements in row-major order
// as little-endian bytes. The element type is as's, or, when as is
// [dtype.Invalid], the one of d's Go type: bool BOOL, int8 I8, uint8 U8,
// int16 I16, uint16 U16, int32 I32, uint32 U32, int64 I64, uint64 U64,
// float32 F32, float64 F64, complex64 C64. Name as to say what the bits
// mean when the Go type does not: F16 or BF16 for a uint16 Dense, an FP8
// type for a uint8 one; as must have the Go type's width.
//
// On a little-endian machine the bytes are d's own memory, not a copy, so
// d must not change until they are written; a Dense that is a view of
// another (a slice or a transpose) is first copied in row-major order.
func ToData(d *tensor.Dense, as dtype.DType) (loader.Data, error) {
	if d.RequiresIterator() || d.IsMaterializable() {
		m, ok := d.Materialize().(*tensor.Dense)
		if !ok {
			return loader.Data{}, convertError("cannot copy a view of shape %v", d.Shape())
		}
		d = m
	}
	b, dt, err := asBytes(d.Data())
	if err != nil {
		return loader.Data{}, err
	}
	if as != dtype.Invalid {
		if as.Bits() != dt.Bits() {
			return loader.Data{}, convertError("a %v Dense cannot hold %v elements (%d bits, not %d)", d.Dtype(), as, as.Bits(), dt.Bits())
		}
		dt = as
	}
	shape := make([]uint64, 0, d.Dims())
	if !d.IsScalar() {
		for _, x := range d.Shape() {
			shape = append(shape, uint64(x))
		}
	}
	return loader.Data{DType: dt, Shape: shape, Bytes: b}, nil
}

// asBytes returns the little-endian bytes of data, a Dense's backing slice
// or, for a scalar Dense, its value, and their dtype.
func asBytes(data any) ([]byte, dtype.DType, error) {
	switch v := data.(type) {
	case []bool:
		return dtype.AsBytes(v), dtype.BOOL, nil
	case bool:
		return dtype.AsBytes([]bool{v}), dtype.BOOL, nil
	case []int8:
		return dtype.AsBytes(v), dtype.I8, nil
	case int8:
		return dtype.AsBytes([]int8{v}), dtype.I8, nil
	case []uint8:
		return dtype.AsBytes(v), dtype.U8, nil
	case uint8:
		return dtype.AsBytes([]uint8{v}), dtype.U8, nil
	case []int16:
		return dtype.AsBytes(v), dtype.I16, nil
	case int16:
		return dtype.AsBytes([]int16{v}), dtype.I16, nil
	case []uint16:
		return dtype.AsBytes(v), dtype.U16, nil
	case uint16:
		return dtype.AsBytes([]uint16{v}), dtype.U16, nil
	case []int32:
		return dtype.AsBytes(v), dtype.I32, nil
	case int32:
		return dtype.AsBytes([]int32{v}), dtype.I32, nil
	case []uint32:
		return dtype.AsBytes(v), dtype.U32, nil
	case uint32:
		return dtype.AsBytes([]uint32{v}), dtype.U32, nil
	case []int64:
		return dtype.AsBytes(v), dtype.I64, nil
	case int64:
		return dtype.AsBytes([]int64{v}), dtype.I64, nil
	case []uint64:
		return dtype.AsBytes(v), dtype.U64, nil
	case uint64:
		return dtype.AsBytes([]uint64{v}), dtype.U64, nil
	case []float32:
		return dtype.AsBytes(v), dtype.F32, nil
	case float32:
		return dtype.AsBytes([]float32{v}), dtype.F32, nil
	case []float64:
		return dtype.AsBytes(v), dtype.F64, nil
	case float64:
		return dtype.AsBytes([]float64{v}), dtype.F64, nil
	case []complex64:
		return dtype.AsBytes(v), dtype.C64, nil
	case complex64:
		return dtype.AsBytes([]complex64{v}), dtype.C64, nil
	}
	return nil, dtype.Invalid, convertError("%T elements have no safetensors type", data)
}

// convertError returns a *device.Error wrapping [dtype.ErrUnsupported].
func convertError(format string, args ...any) error {
	return &device.Error{Op: "dense", Detail: fmt.Sprintf(format, args...), Err: dtype.ErrUnsupported}
}
