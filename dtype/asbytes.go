package dtype

import (
	"encoding/binary"
	"reflect"
	"unsafe"
)

// element is the set of Go types whose values [AsBytes] turns into tensor
// bytes: each has the layout of one safetensors element type.
type element interface {
	~bool | ~int8 | ~uint8 | ~int16 | ~uint16 | ~int32 | ~uint32 |
		~int64 | ~uint64 | ~float32 | ~float64 | ~complex64
}

// AsBytes returns the little-endian bytes of v, the form a tensor's data
// takes in a safetensors file, as [loader.Data] and the writers want it:
//
//	loader.Data{DType: dtype.F32, Shape: []uint64{2, 3}, Bytes: dtype.AsBytes(weights)}
//
// T is one of bool (BOOL: Go stores false and true as the bytes 0 and 1),
// int8, uint8, int16, uint16, int32, uint32, int64, uint64, float32,
// float64 or complex64, or a type defined on one of them. A []uint16
// (or a []float16.Float16 of github.com/x448/float16) holds the bits of F16
// or BF16 elements: name the type in the DType field.
//
// On a little-endian machine (amd64, arm64, 386, arm, riscv64, ppc64le,
// loong64, wasm, ...) the result is v's own memory, not a copy: it aliases
// v, so v must not change until the bytes have been written, and writing
// to the result changes v. On a big-endian machine (s390x, ppc64, mips)
// it is a little-endian copy.
//
// [loader.Data]: https://pkg.go.dev/github.com/stload/stload/loader#Data
func AsBytes[T element](v []T) []byte {
	if !littleEndian {
		return copyLE(v)
	}
	return memory(v)
}

// memory returns the bytes of v as they lie in memory.
func memory[T element](v []T) []byte {
	size := int(unsafe.Sizeof(*new(T)))
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(v))), size*len(v))
}

// copyLE returns a little-endian copy of v on any machine: each scalar
// (each half of a complex64) is read in the machine's byte order and
// written in little-endian order.
func copyLE[T element](v []T) []byte {
	src := memory(v)
	dst := make([]byte, len(src))
	unit := int(unsafe.Sizeof(*new(T)))
	if reflect.TypeFor[T]().Kind() == reflect.Complex64 {
		unit = 4
	}
	le, ne := binary.LittleEndian, binary.NativeEndian
	switch unit {
	case 1:
		copy(dst, src)
	case 2:
		for i := 0; i < len(src); i += 2 {
			le.PutUint16(dst[i:], ne.Uint16(src[i:]))
		}
	case 4:
		for i := 0; i < len(src); i += 4 {
			le.PutUint32(dst[i:], ne.Uint32(src[i:]))
		}
	case 8:
		for i := 0; i < len(src); i += 8 {
			le.PutUint64(dst[i:], ne.Uint64(src[i:]))
		}
	}
	return dst
}
