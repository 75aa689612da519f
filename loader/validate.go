package loader

import (
	"cmp"
	"encoding/binary"
	"math/bits"
	"slices"
	"strconv"
	"unicode/utf8"
	"unsafe"

	"github.com/stload/stload/dtype"
)

// checkPrefix runs the reference's checks 1 to 3 on the file size and the
// 8-byte length prefix, and returns the header length N.
func checkPrefix(prefix []byte, size, maxHeader int64) (int64, *Error) {
	if size < 8 {
		return 0, newError(ErrHeaderTooSmall, "", "the file has %d bytes, fewer than the 8-byte length prefix", size)
	}
	n := binary.LittleEndian.Uint64(prefix)
	if n > uint64(maxHeader) {
		return 0, newError(ErrHeaderTooLarge, "", "the length prefix says %d bytes; the limit is %d", n, maxHeader)
	}
	if int64(n) > size-8 {
		return 0, newError(ErrInvalidHeaderLength, "", "a header of %d bytes does not fit in a file of %d bytes", n, size)
	}
	return int64(n), nil
}

// checkUTF8 is the reference's check 4, over all N header bytes including
// any padding.
func checkUTF8(b []byte) *Error {
	if utf8.Valid(b) {
		return nil
	}
	i := 0
	for i < len(b) {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size <= 1 {
			break
		}
		i += size
	}
	return newError(ErrInvalidHeader, "", "a malformed sequence starting with byte %#02x", b[i]).at(8 + int64(i))
}

// sortTensors orders the tensors by data offsets, ties by name, as the
// reference does before validating (it breaks ties in hash-map order; a
// name order makes stload deterministic). Offsets compare as the uint64s
// the header holds. Writers emit offset order, so the sort is usually
// skipped. It reports whether the order changed.
func sortTensors(ts []Tensor) bool {
	less := func(a, b Tensor) int {
		if c := cmp.Or(cmp.Compare(uint64(a.Begin), uint64(b.Begin)), cmp.Compare(uint64(a.End), uint64(b.End))); c != 0 {
			return c
		}
		return cmp.Compare(a.Name, b.Name) // only for ties: rare, and costly
	}
	if slices.IsSortedFunc(ts, less) {
		return false
	}
	slices.SortFunc(ts, less)
	return true
}

// validate runs the reference's checks 6 to 11 on h's tensors, already
// sorted by offset, for a data section of dataLen bytes that starts at
// file offset dataStart. hdr is the header, where errors find the
// tensor's entry.
func (h *header) validate(hdr []byte, dataLen, dataStart int64) *Error {
	var end uint64
	for _, t := range h.tensors {
		begin, tend := uint64(t.Begin), uint64(t.End)
		if begin != end {
			return newError(ErrInvalidOffset, t.Name, "data_offsets [%d, %d] do not start where the previous tensor ends (%d)", begin, tend, end).at(keyPos(hdr, t.Name))
		}
		if tend < begin {
			return newError(ErrInvalidOffset, t.Name, "data_offsets [%d, %d] end before they begin", begin, tend).at(keyPos(hdr, t.Name))
		}
		end = tend
		size, err := byteSize(t.DType, t.Shape)
		if err != nil {
			err.Tensor = t.Name
			return err.at(keyPos(hdr, t.Name))
		}
		if tend-begin != size {
			return newError(ErrTensorInvalidInfo, t.Name, "%s %v needs %s but data_offsets [%d, %d] hold %d", t.DType, t.Shape, nBytes(size), begin, tend, tend-begin).at(keyPos(hdr, t.Name))
		}
	}
	if end != uint64(dataLen) {
		return newError(ErrMetadataIncompleteBuffer, "", "the tensors cover %d bytes of data but the file holds %d after the header", end, dataLen).at(dataStart + int64(min(end, uint64(dataLen))))
	}
	return nil
}

// keyPos returns the file offset of the last entry of the header hdr,
// which parsed, whose key is name: where the tensor that won is described.
// Parsing records no positions, since they are needed only for an error.
func keyPos(hdr []byte, name string) int64 {
	p := &parser{b: hdr, s: unsafe.String(unsafe.SliceData(hdr), len(hdr))}
	at := 0
	p.skipSpace()
	p.object(func(key string, pos int) *Error {
		if key == name {
			at = pos
		}
		return p.skipValue()
	})
	return 8 + int64(at)
}

// reindex points the index at the tensors' positions after sorting.
func (h *header) reindex() { h.index.Rebuild(len(h.tensors), h.tensorName) }

// nBytes says n bytes in English.
func nBytes(n uint64) string {
	if n == 1 {
		return "1 byte"
	}
	return strconv.FormatUint(n, 10) + " bytes"
}

// byteSize returns the number of bytes of a tensor, running the reference's
// checks 7 to 9: element count and bit count without overflow, whole bytes.
func byteSize(dt dtype.DType, shape []uint64) (uint64, *Error) {
	n := uint64(1)
	for _, d := range shape {
		hi, lo := bits.Mul64(n, d)
		if hi != 0 {
			return 0, newError(ErrValidationOverflow, "", "the element count of shape %v overflows 64 bits", shape)
		}
		n = lo
	}
	hi, nbits := bits.Mul64(n, uint64(dt.Bits()))
	if hi != 0 {
		return 0, newError(ErrValidationOverflow, "", "the bit count of shape %v overflows 64 bits", shape)
	}
	if nbits%8 != 0 {
		return 0, newError(ErrMisalignedSlice, "", "%d elements of %v are %d bits, not whole bytes", n, dt, nbits)
	}
	return nbits / 8, nil
}
