package devicetest

import (
	"errors"
	"fmt"
	"time"
	"unsafe"

	"github.com/stload/stload/device"
)

// pageSize aligns pinned memory, as real pinned memory is (O_DIRECT reads
// into it need that), and registered ranges.
const pageSize = 4096

// accelerator is one opened simulated device.
type accelerator struct {
	b     *Backend
	index int
}

func (a *accelerator) Index() int   { return a.index }
func (a *accelerator) Name() string { return fmt.Sprintf("simulated device %d", a.index) }

func (a *accelerator) MemInfo() (int64, int64, error) {
	a.b.mu.Lock()
	defer a.b.mu.Unlock()
	return a.b.free[a.index], a.b.total, nil
}

func (a *accelerator) Alloc(n int64) (device.Memory, error) {
	b := a.b
	if b.hit(opAlloc) {
		return nil, outOfMemory("injected fault allocating %d bytes on device %d", n, a.index)
	}
	b.mu.Lock()
	if n > b.free[a.index] {
		free := b.free[a.index]
		b.mu.Unlock()
		return nil, outOfMemory("%d bytes asked of device %d, %d free", n, a.index, free)
	}
	b.free[a.index] -= n
	m := &memory{a: a, ptr: b.nextPtr, n: n}
	b.nextPtr += uintptr(n+255)/256*256 + 256
	b.mems[m] = true
	b.mu.Unlock()
	m.buf = b.buffer(n)
	return m, nil
}

func (a *accelerator) AllocHost(n int) (device.HostMemory, error) {
	b := a.b
	if b.hit(opAllocHost) {
		return nil, outOfMemory("injected fault pinning %d bytes", n)
	}
	if b.o.PinRate > 0 { // processor sharing: each pin progresses at PinRate/(pins running)
		b.pinning.Add(1)
		last := time.Now()
		for left := float64(n) / b.o.PinRate; left > 0; {
			time.Sleep(200 * time.Microsecond)
			now := time.Now()
			left -= now.Sub(last).Seconds() / float64(b.pinning.Load())
			last = now
		}
		b.pinning.Add(-1)
	}
	orig := b.buffer(int64(n) + pageSize)
	skip := (pageSize - int64(uintptr(unsafe.Pointer(unsafe.SliceData(orig))))%pageSize) % pageSize
	h := &host{b: b, buf: orig[skip : skip+int64(n) : skip+int64(n)], orig: orig}
	b.mu.Lock()
	b.hosts[h] = true
	b.pinned += int64(n)
	b.counters.HostAllocs++
	b.counters.PeakPinned = max(b.counters.PeakPinned, b.pinned)
	b.mu.Unlock()
	return h, nil
}

// AllocHostMapped is AllocHost for device.Tuning's MappedHost, counted
// apart.
func (a *accelerator) AllocHostMapped(n int) (device.HostMemory, error) {
	a.b.mu.Lock()
	a.b.counters.MappedAllocs++
	a.b.mu.Unlock()
	return a.AllocHost(n)
}

// RegisterReadOnly page-locks buf in place: it becomes a valid copy source
// until Free, and counts as locked, not as pinned allocation. Ranges must
// be page-aligned and must not overlap a registered one, as CUDA's.
func (a *accelerator) RegisterReadOnly(buf []byte) (device.HostMemory, error) {
	b := a.b
	if b.hit(opRegister) {
		return nil, fmt.Errorf("devicetest: injected fault registering %d bytes", len(buf))
	}
	if p := uintptr(unsafe.Pointer(unsafe.SliceData(buf))); p%pageSize != 0 || len(buf)%pageSize != 0 {
		b.violate("registered range %#x+%d is not page-aligned", p, len(buf))
		return nil, errors.New("devicetest: unaligned registration")
	}
	h := &host{b: b, buf: buf, registered: true}
	b.mu.Lock()
	defer b.mu.Unlock()
	for o := range b.hosts {
		if o.registered && overlaps(o.buf, buf) {
			b.violations = append(b.violations, "overlapping registrations")
			return nil, errors.New("devicetest: memory already registered")
		}
	}
	b.hosts[h] = true
	b.locked += int64(len(buf))
	b.counters.PeakLocked = max(b.counters.PeakLocked, b.locked)
	return h, nil
}

// overlaps reports whether two byte ranges share memory.
func overlaps(x, y []byte) bool {
	px, py := uintptr(unsafe.Pointer(unsafe.SliceData(x))), uintptr(unsafe.Pointer(unsafe.SliceData(y)))
	return px < py+uintptr(len(y)) && py < px+uintptr(len(x))
}

func (a *accelerator) NewStream() (device.Stream, error) {
	if a.b.hit(opStream) {
		return nil, errors.New("devicetest: injected fault creating a stream")
	}
	a.b.mu.Lock()
	a.b.streams++
	a.b.mu.Unlock()
	return &stream{a: a}, nil
}

func (a *accelerator) Read(dst []byte, src device.Memory, off int64) error {
	if a.b.hit(opRead) {
		return errors.New("devicetest: injected fault reading device memory")
	}
	m, ok := src.(*memory)
	if !ok || !a.b.live(m) {
		return errors.New("devicetest: read from memory that is not live")
	}
	if off < 0 || off+int64(len(dst)) > m.n {
		return fmt.Errorf("devicetest: read [%d,%d) outside %d bytes", off, off+int64(len(dst)), m.n)
	}
	copy(dst, m.buf[off:])
	return nil
}

func (a *accelerator) Close() error {
	b := a.b
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.accs[a] {
		b.violations = append(b.violations, fmt.Sprintf("device %d closed twice", a.index))
		return nil
	}
	for m := range b.mems {
		if m.a == a {
			b.violations = append(b.violations, fmt.Sprintf("device %d closed with %d bytes allocated", a.index, m.n))
		}
	}
	delete(b.accs, a)
	return nil
}

// memory is simulated device memory.
type memory struct {
	a   *accelerator
	ptr uintptr
	n   int64
	buf []byte
}

func (m *memory) Ptr() uintptr { return m.ptr }
func (m *memory) Len() int64   { return m.n }

func (m *memory) Free() error {
	b := m.a.b
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.mems[m] {
		b.violations = append(b.violations, "device memory freed twice")
		return nil
	}
	delete(b.mems, m)
	b.free[m.a.index] += m.n
	b.recycle(m.buf)
	return nil
}

// host is pinned host memory (AllocHost) or a registered range.
type host struct {
	b          *Backend
	buf        []byte
	orig       []byte // the allocation buf lies in
	registered bool   // RegisterReadOnly: the memory is the caller's
}

func (h *host) Bytes() []byte { return h.buf }

func (h *host) Free() error {
	b := h.b
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.hosts[h] {
		b.violations = append(b.violations, "pinned memory freed twice")
		return nil
	}
	delete(b.hosts, h)
	if h.registered {
		b.locked -= int64(len(h.buf))
		return nil
	}
	b.pinned -= int64(len(h.buf))
	b.recycle(h.orig)
	return nil
}

// pinnedHas reports whether buf lies inside live pinned or registered
// memory.
func (b *Backend) pinnedHas(buf []byte) bool {
	if len(buf) == 0 {
		return true
	}
	p := uintptr(unsafe.Pointer(unsafe.SliceData(buf)))
	b.mu.Lock()
	defer b.mu.Unlock()
	for h := range b.hosts {
		q := uintptr(unsafe.Pointer(unsafe.SliceData(h.buf)))
		if p >= q && p+uintptr(len(buf)) <= q+uintptr(len(h.buf)) {
			return true
		}
	}
	return false
}
