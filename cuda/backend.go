//go:build cuda

package cuda

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"unsafe"

	"gorgonia.org/cu"

	"github.com/stload/stload/device"
)

func init() { device.Register(backend{}) }

// backend is the device.Backend for NVIDIA GPUs, registered as "cuda" by this
// package's init function. The zero value is ready to use.
type backend struct{}

var (
	_ device.Backend     = backend{}
	_ device.Accelerator = (*accel)(nil)
	_ device.Registrar   = (*accel)(nil)
	_ interface {
		AllocHostMapped(n int) (device.HostMemory, error) // device.Tuning's MappedHost
	} = (*accel)(nil)
	_ device.Memory     = (*memory)(nil)
	_ device.HostMemory = (*hostMem)(nil)
	_ device.Stream     = (*stream)(nil)
	_ device.Event      = (*event)(nil)
)

// Name returns "cuda".
func (backend) Name() string { return "cuda" }

// Count reports the number of GPUs the driver exposes (after
// CUDA_VISIBLE_DEVICES).
func (backend) Count() (int, error) {
	n, err := cu.NumDevices()
	return n, newError(-1, "cuDeviceGetCount", err)
}

// Open opens GPU index; see openDevice.
func (backend) Open(index int) (device.Accelerator, error) {
	a, err := openDevice(index)
	if err != nil {
		return nil, err
	}
	return a, nil
}

// driverVersion returns the CUDA version the installed driver supports, as
// 1000*major + 10*minor (13000 for CUDA 13.0), or -1 if it cannot tell.
func driverVersion() int { return cu.Version() }

// accel is one opened GPU. It implements device.Accelerator,
// device.Registrar (RegisterReadOnly) and the AllocHostMapped method of
// device.Tuning's MappedHost, and has the driver's other allocation flags
// and attributes at hand (allocHostFlags, registerHost, attribute). All
// methods are safe for concurrent use.
type accel struct {
	index int
	name  string
	dev   cu.Device
	ctx   cu.CUContext // the device's primary context, retained by Open
	// maxPitch is the largest pitch cuMemcpy2D accepts; checked up front so
	// that a bad 2-D copy fails at once rather than poisoning its stream.
	maxPitch int64

	ops    chan op       // requests for the issuing goroutine
	done   chan struct{} // closed when the issuing goroutine has exited
	closed atomic.Bool

	// pinned lists the page-locked host ranges of this accelerator, sorted
	// by start. Copy reads it without locking; writers replace the slice
	// under mu.
	pinned atomic.Pointer[[]hostRange]

	// life is held shared by every call that uses the context from a
	// caller's thread, and exclusively by Close while it tears down, so
	// nothing uses the context or a handle after Close releases it.
	life sync.RWMutex

	mu         sync.Mutex // guards the fields below; taken after life
	mems       map[*memory]struct{}
	hosts      map[*hostMem]struct{}
	streams    map[*stream]struct{}
	freeEvents []*event // pooled events ready for reuse
	allEvents  []*event // every event created, destroyed by Close
}

// Open retains the primary context of GPU index and starts the goroutine that
// issues its copies. Every accel must be closed. Opening the same GPU
// twice is allowed; both share the primary context.
func openDevice(index int) (*accel, error) {
	n, err := cu.NumDevices()
	if err != nil {
		return nil, newError(index, "cuDeviceGetCount", err)
	}
	if index < 0 || index >= n {
		return nil, &opError{Device: index, Op: "cuDeviceGet", Err: fmt.Errorf("no such device (%d visible): %w", n, resInvalidDevice)}
	}
	dev, err := cu.GetDevice(index)
	if err != nil {
		return nil, newError(index, "cuDeviceGet", err)
	}
	name, err := dev.Name()
	if err != nil {
		return nil, newError(index, "cuDeviceGetName", err)
	}
	maxPitch, err := dev.Attribute(cu.DeviceAttribute(attrMaxPitch))
	if err != nil {
		return nil, newError(index, "cuDeviceGetAttribute (max pitch)", err)
	}
	ctx, err := dev.RetainPrimaryCtx()
	if err != nil {
		return nil, newError(index, "cuDevicePrimaryCtxRetain", err)
	}
	a := &accel{
		index:    index,
		name:     name,
		dev:      dev,
		ctx:      ctx,
		maxPitch: int64(maxPitch),
		ops:      make(chan op, opQueueLen),
		done:     make(chan struct{}),
		mems:     make(map[*memory]struct{}),
		hosts:    make(map[*hostMem]struct{}),
		streams:  make(map[*stream]struct{}),
	}
	started := make(chan error)
	go a.run(started)
	if err := <-started; err != nil {
		dev.ReleasePrimaryCtx()
		return nil, newError(index, "cuCtxSetCurrent", err)
	}
	return a, nil
}

// Index is the device ordinal.
func (a *accel) Index() int { return a.index }

// Name is the device's marketing name, such as "NVIDIA H100 80GB HBM3".
func (a *accel) Name() string { return a.name }

// String returns "cuda:N".
func (a *accel) String() string { return fmt.Sprintf("cuda:%d", a.index) }

// attribute returns a device attribute (cuDeviceGetAttribute).
func (a *accel) attribute(attr attribute) (int, error) {
	v, err := a.dev.Attribute(cu.DeviceAttribute(attr))
	return v, newError(a.index, fmt.Sprintf("attribute %d", int(attr)), err)
}

// slow runs fn on the caller's goroutine with the context current, unless
// the accelerator is closed, and wraps its error as op.
func (a *accel) slow(op string, fn func() error) error {
	a.life.RLock()
	defer a.life.RUnlock()
	if a.closed.Load() {
		return &opError{Device: a.index, Op: op, Err: errClosed}
	}
	return newError(a.index, op, a.withCtx(fn))
}

// MemInfo reports the free and total device memory (cuMemGetInfo). Free
// memory is device-wide: other processes and contexts count too.
func (a *accel) MemInfo() (free, total int64, err error) {
	err = a.slow("meminfo", func() (err error) {
		free, total, err = cu.MemInfo()
		return err
	})
	return free, total, err
}

// memory implements device.Memory for cuMemAlloc'd device memory.
type memory struct {
	a     *accel
	ptr   cu.DevicePtr
	n     int64
	freed atomic.Bool
}

// Alloc reserves n bytes of device memory with cuMemAlloc, whose alignment
// is at least 256 bytes. A zero-byte allocation yields an empty Memory with
// address 0.
func (a *accel) Alloc(n int64) (device.Memory, error) {
	op := "cuMemAlloc " + formatBytes(n)
	if n < 0 {
		return nil, &opError{Device: a.index, Op: op, Err: errInvalidSize}
	}
	m := &memory{a: a, n: n}
	if n == 0 {
		return m, nil
	}
	err := a.slow(op, func() (err error) {
		if m.ptr, err = cu.MemAlloc(n); err != nil {
			return err
		}
		a.mu.Lock()
		a.mems[m] = struct{}{}
		a.mu.Unlock()
		return nil
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

// Ptr is the device address of the first byte.
func (m *memory) Ptr() uintptr { return uintptr(m.ptr) }

// Len is the size in bytes.
func (m *memory) Len() int64 { return m.n }

// Free releases the memory. Copies into it must have completed (waited for);
// copies still queued for the issuing goroutine are issued first, so none
// can land in freed memory.
func (m *memory) Free() error {
	a := m.a
	if !m.freed.CompareAndSwap(false, true) {
		if a.closed.Load() {
			return &opError{Device: a.index, Op: "free", Err: errClosed}
		}
		return &opError{Device: a.index, Op: "free", Err: errFreed}
	}
	if m.n == 0 {
		return nil
	}
	a.fence()
	return a.slow("free "+formatBytes(m.n), func() error {
		a.mu.Lock()
		delete(a.mems, m)
		a.mu.Unlock()
		return cu.MemFree(m.ptr)
	})
}

// Read copies len(dst) bytes at offset off of src into dst, synchronously
// (cuMemcpyDtoH on the caller's thread). It does not wait for copies on this
// package's streams, which never synchronise with it: Sync them first.
func (a *accel) Read(dst []byte, src device.Memory, off int64) error {
	m, ok := src.(*memory)
	if !ok || m.a != a {
		return &opError{Device: a.index, Op: "read", Err: errForeign}
	}
	if m.freed.Load() {
		return &opError{Device: a.index, Op: "read", Err: errFreed}
	}
	n := int64(len(dst))
	if off < 0 || off > m.n || n > m.n-off {
		return &opError{Device: a.index, Op: "read", Err: fmt.Errorf("%w: bytes [%d, %d) outside the %d-byte allocation", errInvalidCopy, off, off+n, m.n)}
	}
	if n == 0 {
		return nil
	}
	return a.slow("read", func() error {
		return cu.MemcpyDtoH(unsafe.Pointer(unsafe.SliceData(dst)), m.ptr+cu.DevicePtr(off), n)
	})
}

// NewStream creates a non-blocking CUDA stream.
func (a *accel) NewStream() (device.Stream, error) {
	s := &stream{a: a}
	err := a.slow("create stream", func() (err error) {
		if s.cs, err = cu.MakeStream(cu.NonBlocking); err != nil {
			return err
		}
		a.mu.Lock()
		a.streams[s] = struct{}{}
		a.mu.Unlock()
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Close stops the issuing goroutine after the work queued so far, waits for
// the streams still open, releases every stream, event, device and host
// allocation still held, and releases the primary context. Resources should
// be released before, as device.Accelerator asks; Close frees leftovers
// anyway, so an error path that skips them leaks nothing. Later calls on the
// accelerator or anything it made report errClosed.
func (a *accel) Close() error {
	if !a.closed.CompareAndSwap(false, true) {
		return &opError{Device: a.index, Op: "accelerator", Err: errClosed}
	}
	a.fence()
	a.send(op{kind: opQuit})
	<-a.done

	a.life.Lock() // wait for calls in flight on callers' threads
	defer a.life.Unlock()
	a.mu.Lock()
	defer a.mu.Unlock()
	var errs []error
	keep := func(op string, err error) {
		if err != nil {
			errs = append(errs, newError(a.index, op, err))
		}
	}
	keep("cuCtxSetCurrent", a.withCtx(func() error {
		for s := range a.streams {
			keep("cuStreamSynchronize", s.cs.Synchronize())
			keep("cuStreamDestroy", s.cs.Destroy())
			s.dead = true
		}
		for _, e := range a.allEvents {
			keep("cuEventDestroy", cu.DestroyEvent(&e.ev))
		}
		for m := range a.mems {
			m.freed.Store(true)
			keep("cuMemFree", cu.MemFree(m.ptr))
		}
		for h := range a.hosts {
			h.freed.Store(true)
			trackPortable(h, false)
			keep("free host memory", h.release())
		}
		return nil
	}))
	clear(a.streams)
	clear(a.mems)
	clear(a.hosts)
	a.freeEvents, a.allEvents = nil, nil
	a.pinned.Store(nil)
	keep("release primary context", a.dev.ReleasePrimaryCtx())
	return errors.Join(errs...)
}
