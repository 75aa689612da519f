//go:build cuda

package cuda

import (
	"cmp"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/stload/stload/device"
)

// hostMem implements device.HostMemory for page-locked host memory, either
// allocated by cuMemHostAlloc or registered by cuMemHostRegister.
type hostMem struct {
	a          *accel
	p          unsafe.Pointer // C memory, or memory the caller keeps alive
	n          int
	registered bool // from registerHost: Free unregisters, it does not free
	portable   bool // pinned for every context, so any GPU may copy from it
	freed      atomic.Bool
	// unmap releases memory this package mapped itself (AllocHostMapped),
	// after unregistering it; nil otherwise.
	unmap func() error
}

// portableHosts indexes the live portable pinned memory of the process.
// CUDA makes such memory page-locked for every context, so a copy to any
// GPU may read it: the device loader fills one staging ring and feeds all
// GPUs from it. The index mirrors that process-wide driver state, which is
// why it lives at package level beside the backend's registration.
var portableHosts struct {
	sync.Mutex
	hosts  map[*hostMem]struct{}
	ranges atomic.Pointer[[]hostRange]
}

// trackPortable adds h to, or removes it from, the portable index.
func trackPortable(h *hostMem, add bool) {
	if !h.portable {
		return
	}
	portableHosts.Lock()
	defer portableHosts.Unlock()
	if portableHosts.hosts == nil {
		portableHosts.hosts = make(map[*hostMem]struct{})
	}
	if add {
		portableHosts.hosts[h] = struct{}{}
	} else {
		delete(portableHosts.hosts, h)
	}
	rs := liveRanges(portableHosts.hosts)
	portableHosts.ranges.Store(&rs)
}

// hostRange is a page-locked range [start, end).
type hostRange struct{ start, end uintptr }

// AllocHost reserves n bytes of page-locked host memory with cuMemHostAlloc
// and CU_MEMHOSTALLOC_PORTABLE. Page-locking is slow (256 MiB took 89 to
// 106 ms, about 2.5 GB/s, on the H200 host of bench/RESULTS.md), so allocate
// the staging buffers once and reuse them. It runs on the caller's goroutine
// and does not hold up copies in flight.
func (a *accel) AllocHost(n int) (device.HostMemory, error) {
	return a.allocHostFlags(n, hostAllocPortable)
}

// allocHostFlags is AllocHost with explicit cuMemHostAlloc flags, for
// example to try hostAllocWriteCombined staging buffers.
func (a *accel) allocHostFlags(n int, flags hostAllocFlags) (device.HostMemory, error) {
	op := "cuMemHostAlloc " + formatBytes(int64(n))
	if n < 0 {
		return nil, &opError{Device: a.index, Op: op, Err: errInvalidSize}
	}
	h := &hostMem{a: a, n: n, portable: flags&hostAllocPortable != 0}
	if n == 0 {
		return h, nil
	}
	return a.pin(op, h, func() (err error) {
		h.p, err = memHostAlloc(n, flags)
		return err
	})
}

// registerHost page-locks existing host memory with cuMemHostRegister, so
// copies can read it directly, and returns it as HostMemory whose Free
// unregisters it (b itself is not freed). b should come from mmap or another
// allocator outside the Go heap; if it is a Go slice, the caller must keep
// it reachable until Free. For a read-only file mapping pass
// hostRegisterReadOnly (see attrReadOnlyHostRegisterSupported). Registering
// is faster than AllocHost but still far slower than the copies it enables
// (11 to 16 GB/s against 55 on the H200 host of bench/RESULTS.md, and more
// threads did not register faster): measure it before relying on it.
func (a *accel) registerHost(b []byte, flags hostRegisterFlags) (device.HostMemory, error) {
	op := "cuMemHostRegister " + formatBytes(int64(len(b)))
	if len(b) == 0 {
		return nil, &opError{Device: a.index, Op: op, Err: errInvalidSize}
	}
	h := &hostMem{a: a, p: unsafe.Pointer(unsafe.SliceData(b)), n: len(b), registered: true,
		portable: flags&hostRegisterPortable != 0}
	return a.pin(op, h, func() error { return memHostRegister(h.p, h.n, flags) })
}

// pin runs lock, which page-locks h's memory, with the context current,
// and only once it succeeds lists h as live: copies from h are accepted
// from then on, and Close releases it.
func (a *accel) pin(op string, h *hostMem, lock func() error) (device.HostMemory, error) {
	err := a.slow(op, func() error {
		if err := lock(); err != nil {
			return err
		}
		a.addHost(h)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return h, nil
}

// hugePage is the size of a transparent huge page on x86-64 and arm64
// (4 KiB base pages): mappings are rounded up to it.
const hugePage = 2 << 20

// AllocHostMapped returns n bytes of page-locked host memory made another
// way than AllocHost: an anonymous mapping rounded up to whole 2 MiB huge
// pages, advised MADV_HUGEPAGE, populated (MADV_POPULATE_WRITE, or a write
// per page on kernels before 5.14), then page-locked in place with
// cuMemHostRegister(PORTABLE). Registering touched memory measured 4 to 10
// times faster than cuMemHostAlloc of the same size (issue 10), and huge
// pages mean 512 times fewer pages for the driver to lock and for the copy
// engine to translate. Free unregisters and unmaps it. It implements
// the AllocHostMapped method of device.Tuning's MappedHost.
func (a *accel) AllocHostMapped(n int) (device.HostMemory, error) {
	op := "mmap + cuMemHostRegister " + formatBytes(int64(n))
	if n <= 0 {
		return nil, &opError{Device: a.index, Op: op, Err: errInvalidSize}
	}
	size := (n + hugePage - 1) / hugePage * hugePage
	m, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		return nil, &opError{Device: a.index, Op: op, Err: err}
	}
	unix.Madvise(m, unix.MADV_HUGEPAGE) // advice: without THP the pages stay small
	if unix.Madvise(m, unix.MADV_POPULATE_WRITE) != nil {
		for i := 0; i < len(m); i += 4096 {
			m[i] = 0
		}
	}
	h := &hostMem{a: a, p: unsafe.Pointer(unsafe.SliceData(m)), n: n, registered: true, portable: true,
		unmap: func() error { return unix.Munmap(m) }}
	hm, err := a.pin(op, h, func() error { return memHostRegister(h.p, size, hostRegisterPortable) })
	if err != nil {
		unix.Munmap(m)
		return nil, err
	}
	return hm, nil
}

// RegisterReadOnly page-locks b in place for copies to any GPU, read-only
// (CU_MEMHOSTREGISTER_READ_ONLY | PORTABLE), as the device loader's
// WithRegister does with windows of a file's read-only mapping: the driver
// refuses a writable registration of a read-only mapping. It implements
// device.Registrar.
func (a *accel) RegisterReadOnly(b []byte) (device.HostMemory, error) {
	return a.registerHost(b, hostRegisterReadOnly|hostRegisterPortable)
}

// Bytes is the memory as a slice; nil after Free.
func (h *hostMem) Bytes() []byte {
	if h.freed.Load() || h.n == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(h.p), h.n)
}

// Free releases (or unregisters) the memory. Copies from it must have
// completed; copies still queued are issued first.
func (h *hostMem) Free() error {
	a := h.a
	if !h.freed.CompareAndSwap(false, true) {
		if a.closed.Load() {
			return &opError{Device: a.index, Op: "free host memory", Err: errClosed}
		}
		return &opError{Device: a.index, Op: "free host memory", Err: errFreed}
	}
	if h.n == 0 {
		return nil
	}
	a.mu.Lock()
	a.updatePinnedLocked() // from now on copies from h are refused
	a.mu.Unlock()
	trackPortable(h, false)
	a.fence()
	return a.slow("free host memory "+formatBytes(int64(h.n)), func() error {
		a.mu.Lock()
		delete(a.hosts, h)
		a.mu.Unlock()
		return h.release()
	})
}

// release frees or unregisters (and unmaps) the memory; the context must
// be current.
func (h *hostMem) release() error {
	if !h.registered {
		return memFreeHost(h.p)
	}
	err := memHostUnregister(h.p)
	if h.unmap != nil {
		err = errors.Join(err, h.unmap())
	}
	return err
}

// addHost lists h as live and its range as a valid copy source.
func (a *accel) addHost(h *hostMem) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.hosts[h] = struct{}{}
	a.updatePinnedLocked()
	trackPortable(h, true)
}

// updatePinnedLocked republishes the sorted ranges of the live host memory.
// Allocations are few and rare, so rebuilding is simplest; readers keep
// using the old slice meanwhile.
func (a *accel) updatePinnedLocked() {
	rs := liveRanges(a.hosts)
	a.pinned.Store(&rs)
}

// liveRanges returns the sorted ranges of the hosts not yet freed.
func liveRanges(hosts map[*hostMem]struct{}) []hostRange {
	rs := make([]hostRange, 0, len(hosts))
	for h := range hosts {
		if !h.freed.Load() {
			rs = append(rs, hostRange{uintptr(h.p), uintptr(h.p) + uintptr(h.n)})
		}
	}
	slices.SortFunc(rs, func(x, y hostRange) int { return cmp.Compare(x.start, y.start) })
	return rs
}

// isPinned reports whether [p, p+n) lies inside one page-locked range of
// this accelerator, or inside portable pinned memory of any accelerator. It
// is on the copy hot path: binary searches, no locks.
func (a *accel) isPinned(p uintptr, n int64) bool {
	return inRanges(a.pinned.Load(), p, n) || inRanges(portableHosts.ranges.Load(), p, n)
}

// inRanges reports whether [p, p+n) lies inside one of the sorted ranges.
func inRanges(rs *[]hostRange, p uintptr, n int64) bool {
	if rs == nil || n < 0 {
		return false
	}
	r := *rs
	lo, hi := 0, len(r) // find the number of ranges starting at or before p
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if r[mid].start <= p {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo > 0 && p < r[lo-1].end && uint64(n) <= uint64(r[lo-1].end-p)
}
