package loader

import (
	"cmp"
	"encoding/binary"
	"math/bits"
	"slices"
	"unicode/utf8"

	"github.com/stload/stload/dtype"
)

// DefaultMaxHeaderSize is the reference's cap on the header length: larger
// headers are refused before anything is allocated for them.
const DefaultMaxHeaderSize = 100_000_000

// checkPrefix runs the reference's checks 1 to 3 on the file size and the
// 8-byte length prefix, and returns the header length N.
func checkPrefix(prefix []byte, size, maxHeader int64) (int64, *Error) {
	if size < 8 {
		return 0, newError(ErrHeaderTooSmall, "", "the file has %d bytes, fewer than the 8-byte length prefix", size).at(0)
	}
	n := binary.LittleEndian.Uint64(prefix)
	if n > uint64(maxHeader) {
		return 0, newError(ErrHeaderTooLarge, "", "the length prefix says %d bytes; the limit is %d", n, maxHeader).at(0)
	}
	if int64(n) > size-8 {
		return 0, newError(ErrInvalidHeaderLength, "", "a header of %d bytes does not fit in a file of %d bytes", n, size).at(0)
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
	return newError(ErrInvalidHeader, "", "byte %#02x is not valid UTF-8", b[i]).at(8 + int64(i))
}

// sortEntries orders the entries by data offsets, ties by name, as the
// reference does before validating (it breaks ties in hash-map order; a
// name order makes stload deterministic). Writers emit offset order, so
// the sort is usually skipped. It reports whether the order changed.
func sortEntries(es []entry) bool {
	less := func(a, b entry) int {
		return cmp.Or(cmp.Compare(a.begin, b.begin), cmp.Compare(a.end, b.end), cmp.Compare(a.name, b.name))
	}
	if slices.IsSortedFunc(es, less) {
		return false
	}
	slices.SortFunc(es, less)
	return true
}

// validate runs the reference's checks 6 to 11 on entries already sorted by
// offset, for a data section of dataLen bytes that starts at file offset
// dataStart.
func validate(es []entry, dataLen, dataStart int64) *Error {
	var end uint64
	for i := range es {
		e := &es[i]
		hdrPos := int64(8 + e.pos)
		if e.begin != end || e.end < e.begin {
			return newError(ErrInvalidOffset, e.name, "data_offsets [%d, %d] do not start where the previous tensor ends (%d)", e.begin, e.end, end).at(hdrPos)
		}
		end = e.end
		size, err := byteSize(e.dt, e.shape)
		if err != nil {
			err.Tensor = e.name
			return err.at(hdrPos)
		}
		if e.end-e.begin != size {
			return newError(ErrTensorInvalidInfo, e.name, "%s %v needs %d bytes but data_offsets [%d, %d] hold %d", e.dt, e.shape, size, e.begin, e.end, e.end-e.begin).at(hdrPos)
		}
	}
	if end != uint64(dataLen) {
		return newError(ErrMetadataIncompleteBuffer, "", "the tensors cover %d bytes of data but the file holds %d after the header", end, dataLen).at(dataStart + min(int64(end), dataLen))
	}
	return nil
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
