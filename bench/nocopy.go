package bench

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/stload/stload/device"
)

// noCopyBackend is a device backend whose copies do nothing: the load's
// pipeline runs whole (planning, allocation, reading into staging
// buffers, issuing copies, retiring events) except the copies themselves.
// Over a real backend (inner, the cuda one for the GPU's "fill-only" run)
// it uses that backend's device and pinned memory; without one it is a
// pure host stand-in, whose staging buffers are page-aligned memory
// touched once and reused across the loads of a Placer, and whose device
// memory is an address range with nothing behind it. The host stand-in is
// what the CPU measures the read side of the pipeline with (stbench cold):
// no fresh page is allocated inside a timed load.
type noCopyBackend struct {
	name  string
	inner device.Backend // nil: host stand-in
	host  *hostPool
}

// registerNoCopy registers a no-copy backend named name over inner (nil:
// the host stand-in) and returns the function that unregisters it.
func registerNoCopy(name string, inner device.Backend) func() {
	return device.Register(noCopyBackend{name: name, inner: inner, host: &hostPool{}})
}

func (b noCopyBackend) Name() string { return b.name }

func (b noCopyBackend) Count() (int, error) {
	if b.inner == nil {
		return 1, nil
	}
	return b.inner.Count()
}

func (b noCopyBackend) Open(i int) (device.Accelerator, error) {
	if b.inner == nil {
		if i != 0 {
			return nil, fmt.Errorf("%s: no device %d", b.name, i)
		}
		return &noCopyAcc{host: b.host}, nil
	}
	a, err := b.inner.Open(i)
	if err != nil {
		return nil, err
	}
	return &noCopyAcc{inner: a, host: b.host}, nil
}

// noCopyAcc is one device of a noCopyBackend.
type noCopyAcc struct {
	inner device.Accelerator // nil: host stand-in
	host  *hostPool
	next  atomic.Uintptr
}

func (a *noCopyAcc) Index() int {
	if a.inner == nil {
		return 0
	}
	return a.inner.Index()
}

func (a *noCopyAcc) Name() string {
	if a.inner == nil {
		return "host stand-in (copies are no-ops)"
	}
	return a.inner.Name() + " (copies are no-ops)"
}

func (a *noCopyAcc) MemInfo() (int64, int64, error) {
	if a.inner == nil {
		return 1 << 50, 1 << 50, nil
	}
	return a.inner.MemInfo()
}

func (a *noCopyAcc) Alloc(n int64) (device.Memory, error) {
	if a.inner != nil {
		return a.inner.Alloc(n)
	}
	p := a.next.Add(uintptr(n+4095)&^4095) - uintptr(n+4095)&^4095
	return &fakeMemory{ptr: 1<<44 + p, n: n}, nil
}

func (a *noCopyAcc) AllocHost(n int) (device.HostMemory, error) {
	if a.inner != nil {
		return a.inner.AllocHost(n)
	}
	return a.host.get(n)
}

func (a *noCopyAcc) NewStream() (device.Stream, error) { return noCopyStream{}, nil }

func (a *noCopyAcc) Read([]byte, device.Memory, int64) error {
	return errors.New("a no-copy device holds no bytes to read back")
}

func (a *noCopyAcc) Close() error {
	if a.inner != nil {
		return a.inner.Close()
	}
	return nil
}

// fakeMemory is device memory of the host stand-in: an address, no bytes.
type fakeMemory struct {
	ptr uintptr
	n   int64
}

func (m *fakeMemory) Ptr() uintptr { return m.ptr }
func (m *fakeMemory) Len() int64   { return m.n }
func (m *fakeMemory) Free() error  { return nil }

// noCopyStream drops copies; its events are complete when recorded.
type noCopyStream struct{}

func (noCopyStream) Copy(device.Copy) error        { return nil }
func (noCopyStream) Record() (device.Event, error) { return noCopyEvent{}, nil }
func (noCopyStream) Sync() error                   { return nil }
func (noCopyStream) Close() error                  { return nil }

type noCopyEvent struct{}

func (noCopyEvent) Wait() error  { return nil }
func (noCopyEvent) Close() error { return nil }

// hostPool hands out page-aligned host buffers, touched when first made
// and kept for reuse when freed, so that loads after the first allocate
// nothing.
type hostPool struct {
	mu   sync.Mutex
	free map[int][][]byte
}

func (p *hostPool) get(n int) (device.HostMemory, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if l := p.free[n]; len(l) > 0 {
		b := l[len(l)-1]
		p.free[n] = l[:len(l)-1]
		return &hostBuf{p: p, b: b}, nil
	}
	raw := make([]byte, n+4096)
	skip := int(4096-uintptrOf(raw)%4096) % 4096
	b := raw[skip : skip+n : skip+n]
	touch(b)
	return &hostBuf{p: p, b: b}, nil
}

func (p *hostPool) put(b []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.free == nil {
		p.free = map[int][][]byte{}
	}
	p.free[len(b)] = append(p.free[len(b)], b)
}

// hostBuf is a staging buffer of the host stand-in.
type hostBuf struct {
	p     *hostPool
	b     []byte
	freed atomic.Bool
}

func (h *hostBuf) Bytes() []byte { return h.b }

func (h *hostBuf) Free() error {
	if h.freed.Swap(true) {
		return errors.New("host buffer freed twice")
	}
	h.p.put(h.b)
	return nil
}
