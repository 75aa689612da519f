package device

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"
)

// sim is a simulated Backend. Memory is plain byte slices; copies complete
// asynchronously, late and out of order (each sleeps a random delay on its
// own goroutine), unless instant. Every copy snapshots its source when it
// is enqueued and compares at completion, so a staging buffer rewritten
// while its copy is in flight is caught; it also checks that sources lie
// in live pinned memory and destinations in live device memory. Every
// allocation, stream, event and accelerator is tracked so that check can
// prove all were released.
type sim struct {
	name     string
	count    int
	total    int64
	maxDelay time.Duration // 0: copies run synchronously (benchmarks)
	instant  bool

	// pinRate, when set, makes AllocHost take n/pinRate seconds, the rate
	// shared among the AllocHost calls running at once: pinning at one
	// rate however many threads pin, as cuMemHostAlloc measured on the
	// H200 host of bench/RESULTS.md.
	pinRate float64
	pinning atomic.Int64

	// Fault injection: fail the copy, event, device allocation or host
	// allocation numbered n (1-based); 0 never.
	failCopy, failEvent, failAlloc, failHost int64

	copies, events, allocs, hostAllocs atomic.Int64
	mappedAllocs                       atomic.Int64

	mu         sync.Mutex
	free       []int64
	hosts      map[*simHost]bool
	mems       map[*simMem]bool
	accs       map[*simAcc]bool
	streams    int
	liveEvents int
	pinned     int64
	peakPinned int64
	locked     int64 // registered in place (RegisterReadOnly)
	peakLocked int64
	nextPtr    uintptr
	violations []string
	pool       map[int64][][]byte // instant mode: reused memory
}

var simSeq atomic.Int64

// newSim registers a simulated backend of count devices with free bytes
// each, and checks at the end of the test that everything was released.
func newSim(t testing.TB, count int, free int64, delay time.Duration) *sim {
	s := &sim{name: fmt.Sprintf("sim%d", simSeq.Add(1)), count: count, total: free, maxDelay: delay,
		hosts: map[*simHost]bool{}, mems: map[*simMem]bool{}, accs: map[*simAcc]bool{},
		nextPtr: 1 << 40, pool: map[int64][][]byte{}}
	for range count {
		s.free = append(s.free, free)
	}
	Register(s)
	t.Cleanup(func() {
		Unregister(s.name)
		if !t.Failed() {
			s.check(t)
		}
	})
	return s
}

func (s *sim) dev(i int) Device { return Device{Backend: s.name, Index: i} }

func (s *sim) violate(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.violations = append(s.violations, fmt.Sprintf(format, args...))
}

// check fails the test for any violation or anything not released.
func (s *sim) check(t testing.TB) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range s.violations {
		t.Errorf("sim: %s", v)
	}
	if len(s.accs) > 0 || len(s.mems) > 0 || len(s.hosts) > 0 || s.streams > 0 || s.pinned != 0 || s.locked != 0 || s.liveEvents != 0 {
		t.Errorf("sim: leaked %d accelerators, %d allocations, %d pinned buffers (%d bytes), %d streams, %d events",
			len(s.accs), len(s.mems), len(s.hosts), s.pinned, s.streams, s.liveEvents)
	}
}

func (s *sim) Name() string        { return s.name }
func (s *sim) Count() (int, error) { return s.count, nil }

func (s *sim) Open(i int) (Accelerator, error) {
	if i < 0 || i >= s.count {
		return nil, fmt.Errorf("sim: no device %d", i)
	}
	a := &simAcc{s: s, index: i}
	s.mu.Lock()
	s.accs[a] = true
	s.mu.Unlock()
	return a, nil
}

// hit reports whether counter c, advanced now, reaches the fault n.
func hit(c *atomic.Int64, n int64) bool { return c.Add(1) == n && n > 0 }

// buffer returns n bytes, reused in instant mode so that benchmarks do not
// measure page faults.
func (s *sim) buffer(n int64) []byte {
	if s.instant {
		s.mu.Lock()
		defer s.mu.Unlock()
		if l := s.pool[n]; len(l) > 0 {
			b := l[len(l)-1]
			s.pool[n] = l[:len(l)-1]
			return b
		}
	}
	return make([]byte, n)
}

func (s *sim) recycle(b []byte) {
	if s.instant {
		s.pool[int64(len(b))] = append(s.pool[int64(len(b))], b)
	}
}

type simAcc struct {
	s      *sim
	index  int
	closed bool
}

func (a *simAcc) Index() int   { return a.index }
func (a *simAcc) Name() string { return fmt.Sprintf("simulated device %d", a.index) }

func (a *simAcc) MemInfo() (int64, int64, error) {
	a.s.mu.Lock()
	defer a.s.mu.Unlock()
	return a.s.free[a.index], a.s.total, nil
}

func (a *simAcc) Alloc(n int64) (Memory, error) {
	s := a.s
	if hit(&s.allocs, s.failAlloc) {
		return nil, errors.New("sim: injected allocation failure")
	}
	s.mu.Lock()
	if n > s.free[a.index] {
		s.mu.Unlock()
		return nil, fmt.Errorf("sim: out of memory: %d bytes asked, %d free", n, s.free[a.index])
	}
	s.free[a.index] -= n
	m := &simMem{a: a, ptr: s.nextPtr, n: n}
	s.nextPtr += uintptr(n+255)/256*256 + 256
	s.mems[m] = true
	s.mu.Unlock()
	m.buf = s.buffer(n)
	return m, nil
}

func (a *simAcc) AllocHost(n int) (HostMemory, error) {
	s := a.s
	if hit(&s.hostAllocs, s.failHost) {
		return nil, errors.New("sim: injected pinned allocation failure")
	}
	if s.pinRate > 0 { // processor sharing: each pin progresses at pinRate/(pins running)
		s.pinning.Add(1)
		last := time.Now()
		for left := float64(n) / s.pinRate; left > 0; {
			time.Sleep(200 * time.Microsecond)
			now := time.Now()
			left -= now.Sub(last).Seconds() / float64(s.pinning.Load())
			last = now
		}
		s.pinning.Add(-1)
	}
	// Page-aligned, as pinned memory is (O_DIRECT reads need it).
	orig := s.buffer(int64(n) + pageSize)
	skip := (pageSize - int64(uintptr(unsafe.Pointer(unsafe.SliceData(orig))))%pageSize) % pageSize
	h := &simHost{s: s, buf: orig[skip : skip+int64(n) : skip+int64(n)], orig: orig}
	s.mu.Lock()
	s.hosts[h] = true
	s.pinned += int64(n)
	s.peakPinned = max(s.peakPinned, s.pinned)
	s.mu.Unlock()
	return h, nil
}

// AllocHostMapped is AllocHost for WithHostAlloc(HostAllocMapped), counted
// apart.
func (a *simAcc) AllocHostMapped(n int) (HostMemory, error) {
	a.s.mappedAllocs.Add(1)
	return a.AllocHost(n)
}

// RegisterReadOnly page-locks b in place: it becomes a valid copy source
// until Free, and counts as locked, not as pinned allocation.
func (a *simAcc) RegisterReadOnly(b []byte) (HostMemory, error) {
	s := a.s
	if p := uintptr(unsafe.Pointer(unsafe.SliceData(b))); p%4096 != 0 || len(b)%4096 != 0 {
		s.violate("registered range %#x+%d is not page-aligned", p, len(b))
		return nil, errors.New("sim: unaligned registration")
	}
	h := &simHost{s: s, buf: b, registered: true}
	s.mu.Lock()
	for o := range s.hosts {
		if o.registered && overlaps(o.buf, b) {
			s.mu.Unlock()
			s.violate("overlapping registrations")
			return nil, errors.New("sim: memory already registered")
		}
	}
	s.hosts[h] = true
	s.locked += int64(len(b))
	s.peakLocked = max(s.peakLocked, s.locked)
	s.mu.Unlock()
	return h, nil
}

// overlaps reports whether two byte ranges share memory.
func overlaps(a, b []byte) bool {
	pa, pb := uintptr(unsafe.Pointer(unsafe.SliceData(a))), uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	return pa < pb+uintptr(len(b)) && pb < pa+uintptr(len(a))
}

func (a *simAcc) NewStream() (Stream, error) {
	a.s.mu.Lock()
	a.s.streams++
	a.s.mu.Unlock()
	return &simStream{a: a}, nil
}

func (a *simAcc) Read(dst []byte, src Memory, off int64) error {
	m, ok := src.(*simMem)
	if !ok || !a.s.live(m) {
		return errors.New("sim: read from memory that is not live")
	}
	if off < 0 || off+int64(len(dst)) > m.n {
		return fmt.Errorf("sim: read [%d,%d) outside %d bytes", off, off+int64(len(dst)), m.n)
	}
	copy(dst, m.buf[off:])
	return nil
}

func (a *simAcc) Close() error {
	s := a.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.accs[a] {
		s.violations = append(s.violations, fmt.Sprintf("device %d closed twice", a.index))
		return nil
	}
	for m := range s.mems {
		if m.a == a {
			s.violations = append(s.violations, fmt.Sprintf("device %d closed with %d bytes allocated", a.index, m.n))
		}
	}
	delete(s.accs, a)
	return nil
}

func (s *sim) live(m *simMem) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mems[m]
}

type simMem struct {
	a   *simAcc
	ptr uintptr
	n   int64
	buf []byte
}

func (m *simMem) Ptr() uintptr { return m.ptr }
func (m *simMem) Len() int64   { return m.n }

func (m *simMem) Free() error {
	s := m.a.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.mems[m] {
		s.violations = append(s.violations, "device memory freed twice")
		return nil
	}
	delete(s.mems, m)
	s.free[m.a.index] += m.n
	s.recycle(m.buf)
	return nil
}

type simHost struct {
	s          *sim
	buf        []byte
	orig       []byte // the allocation buf lies in
	registered bool   // RegisterReadOnly: the memory is the caller's
}

func (h *simHost) Bytes() []byte { return h.buf }

func (h *simHost) Free() error {
	s := h.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.hosts[h] {
		s.violations = append(s.violations, "pinned memory freed twice")
		return nil
	}
	delete(s.hosts, h)
	if h.registered {
		s.locked -= int64(len(h.buf))
		return nil
	}
	s.pinned -= int64(len(h.buf))
	s.recycle(h.orig)
	return nil
}

// pinnedHas reports whether b lies inside live pinned memory.
func (s *sim) pinnedHas(b []byte) bool {
	if len(b) == 0 {
		return true
	}
	p := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	s.mu.Lock()
	defer s.mu.Unlock()
	for h := range s.hosts {
		q := uintptr(unsafe.Pointer(unsafe.SliceData(h.buf)))
		if p >= q && p+uintptr(len(b)) <= q+uintptr(len(h.buf)) {
			return true
		}
	}
	return false
}

type simStream struct {
	a       *simAcc
	mu      sync.Mutex
	pending []chan struct{}
	closed  bool
}

// rows calls fn for each row of c: source and destination offsets.
func rows(c Copy, fn func(src []byte, dst int64)) {
	if c.Height == 1 {
		fn(c.Src[:c.Width], c.DstOff)
		return
	}
	for r := range c.Height {
		fn(c.Src[r*c.SrcPitch:r*c.SrcPitch+c.Width], c.DstOff+r*c.DstPitch)
	}
}

// need is the number of source bytes a copy reads.
func need(c Copy) int64 {
	if c.Height > 1 {
		return (c.Height-1)*c.SrcPitch + c.Width
	}
	return c.Width
}

func (st *simStream) validate(c Copy) (*simMem, error) {
	s := st.a.s
	m, ok := c.Dst.(*simMem)
	if !ok || !s.live(m) {
		return nil, errors.New("sim: copy to memory that is not live")
	}
	if c.Width <= 0 || c.Height <= 0 {
		return nil, fmt.Errorf("sim: copy of %d×%d", c.Height, c.Width)
	}
	end := c.DstOff + c.Width
	if c.Height > 1 {
		if c.SrcPitch < c.Width || c.DstPitch < c.Width {
			return nil, fmt.Errorf("sim: pitches %d/%d below width %d", c.SrcPitch, c.DstPitch, c.Width)
		}
		end = c.DstOff + (c.Height-1)*c.DstPitch + c.Width
	}
	need := need(c)
	if int64(len(c.Src)) < need || c.DstOff < 0 || end > m.n {
		return nil, fmt.Errorf("sim: copy out of range: src %d of %d, dst [%d,%d) of %d", need, len(c.Src), c.DstOff, end, m.n)
	}
	if !s.pinnedHas(c.Src[:need]) {
		s.violate("copy from memory that is not pinned")
		return nil, errors.New("sim: source is not pinned memory")
	}
	return m, nil
}

func (st *simStream) Copy(c Copy) error {
	s := st.a.s
	if hit(&s.copies, s.failCopy) {
		return errors.New("sim: injected copy failure")
	}
	m, err := st.validate(c)
	if err != nil {
		return err
	}
	if s.instant || s.maxDelay == 0 {
		rows(c, func(src []byte, dst int64) { copy(m.buf[dst:], src) })
		return nil
	}
	var snap []byte
	rows(c, func(src []byte, _ int64) { snap = append(snap, src...) })
	done := make(chan struct{})
	delay := rand.N(s.maxDelay)
	go func() {
		defer close(done)
		time.Sleep(delay)
		var now []byte
		rows(c, func(src []byte, _ int64) { now = append(now, src...) })
		if !bytes.Equal(now, snap) {
			s.violate("staging buffer overwritten while its copy was in flight")
		}
		if !s.pinnedHas(c.Src[:need(c)]) {
			s.violate("source unpinned or unregistered while its copy was in flight")
		}
		if !s.live(m) {
			s.violate("copy completed into freed memory")
			return
		}
		rows(c, func(src []byte, dst int64) { copy(m.buf[dst:], src) })
	}()
	st.mu.Lock()
	st.pending = append(st.pending, done)
	st.mu.Unlock()
	return nil
}

func (st *simStream) Record() (Event, error) {
	s := st.a.s
	fail := hit(&s.events, s.failEvent)
	st.mu.Lock()
	defer st.mu.Unlock()
	live := st.pending[:0]
	for _, d := range st.pending {
		select {
		case <-d:
		default:
			live = append(live, d)
		}
	}
	st.pending = live
	s.mu.Lock()
	s.liveEvents++
	s.mu.Unlock()
	return &simEvent{s: s, wait: append([]chan struct{}(nil), live...), fail: fail}, nil
}

func (st *simStream) Sync() error {
	st.mu.Lock()
	p := st.pending
	st.pending = nil
	st.mu.Unlock()
	for _, d := range p {
		<-d
	}
	return nil
}

func (st *simStream) Close() error {
	st.Sync()
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.closed {
		st.a.s.violate("stream closed twice")
		return nil
	}
	st.closed = true
	st.a.s.mu.Lock()
	st.a.s.streams--
	st.a.s.mu.Unlock()
	return nil
}

type simEvent struct {
	s      *sim
	wait   []chan struct{}
	fail   bool
	closed atomic.Bool
}

func (e *simEvent) Wait() error {
	for _, d := range e.wait {
		<-d
	}
	if e.fail {
		return errors.New("sim: injected event failure")
	}
	return nil
}

func (e *simEvent) Close() error {
	if e.closed.Swap(true) {
		e.s.violate("event closed twice")
		return nil
	}
	e.s.mu.Lock()
	e.s.liveEvents--
	e.s.mu.Unlock()
	return nil
}
