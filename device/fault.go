package device

import (
	"fmt"
	"runtime/debug"
)

// guardFault runs fn, which reads a file's memory mapping, and turns a
// memory fault on the way into an error. A file truncated by another
// process after it was mapped (or whose storage fails) raises SIGBUS when
// its lost pages are read, which would kill the program; with
// SetPanicOnFault the runtime panics in the goroutine instead, and the
// panic is recovered here. Other panics go on. The loader guards its own
// reads the same way; device needs its own guard because it also converts
// and hashes straight from the mapping. Callers must hold no lock that
// fn's unwinding would leave held.
func guardFault(fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			f, ok := r.(interface{ Addr() uintptr })
			if !ok {
				panic(r)
			}
			err = &faultError{addr: f.Addr()}
		}
	}()
	return fn()
}

// faultError reports a read of a mapping that faulted.
type faultError struct{ addr uintptr }

func (e *faultError) Error() string {
	return fmt.Sprintf("memory fault reading the file's mapping (address %#x): the file was truncated or its storage failed", e.addr)
}
