package loader

import (
	"fmt"
	"os"
	"runtime/debug"
	"unsafe"
)

// Reading a mapping faults (SIGBUS) where the file no longer backs it:
// after another process truncated the file, or when the disk under it
// fails. Go crashes the program on such a fault unless the goroutine asked
// for a panic instead (debug.SetPanicOnFault), so every read of the
// mapping by this package runs under catchFault, which turns the panic
// into an error. Bytes handed out as views ([Tensor.Bytes], [File.Mapping])
// are read by the caller, where no guard can be set.

// catchFault is deferred, with the setting of debug.SetPanicOnFault that
// was in force before as prev, around code that reads the mapping m: it
// restores the setting and turns a fault inside m into an I/O error in
// *err. Any other panic goes on.
func (f *File) catchFault(prev bool, m []byte, err *error) {
	debug.SetPanicOnFault(prev)
	r := recover()
	if r == nil {
		return
	}
	fault, ok := r.(interface{ Addr() uintptr })
	base := uintptr(unsafe.Pointer(unsafe.SliceData(m)))
	if !ok || fault.Addr() < base || fault.Addr()-base >= uintptr(len(m)) {
		panic(r)
	}
	*err = f.faultError(int64(fault.Addr() - base))
}

// faultError describes a fault at offset off of the mapping.
func (f *File) faultError(off int64) *Error {
	detail := "the file changed under its memory mapping and could not be read there (truncated, or a failing disk?)"
	if osf, ok := f.r.(*os.File); ok {
		if fi, err := osf.Stat(); err == nil && fi.Size() < f.size {
			detail = fmt.Sprintf("the file shrank under its memory mapping, from %d to %d bytes (truncated by another process?)", f.size, fi.Size())
		}
	}
	return &Error{File: f.name, Offset: off, Detail: detail}
}

// copyMapped copies from the mapping m at off into p.
func (f *File) copyMapped(m, p []byte, off int64) (n int, err error) {
	defer f.catchFault(debug.SetPanicOnFault(true), m, &err)
	return copy(p, m[off:]), nil
}
