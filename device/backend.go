package device

import (
	"fmt"
	"slices"
	"sync"
)

// Backend is a family of accelerators that can hold tensors. The cuda
// package (build tag cuda) registers one named "cuda" from its init
// function; tests register simulated ones (package devicetest).
type Backend interface {
	// Name is the device kind users write before the colon: "cuda".
	Name() string
	// Count reports how many devices of this kind are visible.
	Count() (int, error)
	// Open prepares device index for loading. Every Accelerator that Open
	// returns is closed by its caller.
	Open(index int) (Accelerator, error)
}

// Accelerator is one opened device. Its methods, and those of the memory,
// streams and events it makes, may be called from any goroutine: an
// implementation deals with its driver's threading itself. (CUDA binds a
// context to an OS thread. The cuda backend issues stream work, copies and
// event records, in order on one locked goroutine per device, and runs the
// calls that may block, such as allocation, event waits and reads, on the
// caller's goroutine with its thread locked and the context current for the
// call, so that they hold up no copy.)
type Accelerator interface {
	// Index is the device's ordinal within its backend.
	Index() int
	// Name describes the device for people ("NVIDIA H200").
	Name() string
	// MemInfo reports the device memory that is free and in total, in bytes.
	MemInfo() (free, total int64, err error)
	// Alloc reserves n bytes of device memory, aligned to at least 256
	// bytes. When the device has too little memory, the error satisfies
	// errors.Is(err, ErrOutOfMemory).
	Alloc(n int64) (Memory, error)
	// AllocHost reserves n bytes of page-locked host memory for a Stream to
	// copy from; a Registrar's locked memory is the only other source. When
	// the host has too little, the error satisfies errors.Is(err,
	// ErrOutOfMemory).
	AllocHost(n int) (HostMemory, error)
	// NewStream creates an ordered queue of asynchronous copies.
	NewStream() (Stream, error)
	// Read copies len(dst) bytes from device memory at offset off into dst,
	// synchronously. It is for verification and tests, not the load path.
	Read(dst []byte, src Memory, off int64) error
	// Close releases the device. Memory, host memory and streams must be
	// released before.
	Close() error
}

// Registrar is implemented by accelerators that can page-lock host memory
// in place (CUDA's cuMemHostRegister) so that copies read it directly. With
// [WithRegister] the loader uses it to copy straight from a file's memory
// mapping: one DRAM pass per byte instead of the three that staging costs
// (read the page cache, write a pinned buffer, DMA it out).
type Registrar interface {
	// RegisterReadOnly page-locks b, which starts and ends on page
	// boundaries and is never written, for copies to any accelerator of
	// the backend. Free on the result unregisters it; b itself stays.
	RegisterReadOnly(b []byte) (HostMemory, error)
}

// Memory is a range of device memory.
type Memory interface {
	// Ptr is the device address of the first byte.
	Ptr() uintptr
	// Len is the size in bytes.
	Len() int64
	// Free releases the memory; later use is an error.
	Free() error
}

// HostMemory is page-locked host memory from [Accelerator.AllocHost].
type HostMemory interface {
	// Bytes is the memory as a slice; it stays valid until Free.
	Bytes() []byte
	// Free releases the memory.
	Free() error
}

// Copy describes one asynchronous host-to-device copy of a rectangle:
// Height rows of Width bytes each. Source rows start SrcPitch bytes apart
// from Src[0]; destination rows start DstPitch bytes apart from DstOff
// within Dst. A copy with Height 1 is a plain linear copy and ignores the
// pitches. Src must lie inside HostMemory from AllocHost or
// [Registrar.RegisterReadOnly] of an Accelerator of the same Backend: such
// memory is portable across a backend's devices (CUDA's PORTABLE flags), so
// one staging ring, or one locked window of a mapping, can feed every
// device. Src must not be modified until an Event recorded after the copy
// has completed.
type Copy struct {
	Dst      Memory
	DstOff   int64
	DstPitch int64
	Src      []byte
	SrcPitch int64
	Width    int64
	Height   int64
}

// Stream is an ordered queue of asynchronous copies on one device.
type Stream interface {
	// Copy enqueues c and returns without waiting for it.
	Copy(c Copy) error
	// Record returns an Event that completes once everything enqueued on the
	// stream so far has finished.
	Record() (Event, error)
	// Sync waits until everything enqueued so far has finished.
	Sync() error
	// Close releases the stream after waiting for its work.
	Close() error
}

// Event marks a point in a Stream.
type Event interface {
	// Wait blocks until the work before the event has finished, and reports
	// the first error of that work.
	Wait() error
	// Close releases the event, which must not be used afterwards: an
	// implementation may hand it out again to a later Record.
	Close() error
}

// registry holds the backends registered by init functions. It is the
// package's only mutable state.
var registry struct {
	sync.RWMutex
	m map[string]Backend
}

// Register makes a backend available under b.Name() and returns the
// function that removes it again, for tests that install simulated
// backends (see package devicetest); the cuda package registers its
// backend from an init function and never removes it. Register panics if
// a backend of that name is registered already, like database/sql's.
func Register(b Backend) (unregister func()) {
	registry.Lock()
	defer registry.Unlock()
	if registry.m == nil {
		registry.m = make(map[string]Backend)
	}
	name := b.Name()
	if _, dup := registry.m[name]; dup {
		panic(fmt.Sprintf("device: Register called twice for backend %q", name))
	}
	registry.m[name] = b
	return sync.OnceFunc(func() {
		registry.Lock()
		defer registry.Unlock()
		if registry.m[name] == b {
			delete(registry.m, name)
		}
	})
}

// LookupBackend returns the backend registered under name.
func LookupBackend(name string) (Backend, bool) {
	registry.RLock()
	defer registry.RUnlock()
	b, ok := registry.m[name]
	return b, ok
}

// backends lists the names of the registered backends, sorted.
func backends() []string {
	registry.RLock()
	defer registry.RUnlock()
	names := make([]string, 0, len(registry.m))
	for n := range registry.m {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}
