package main

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stload/stload/device"
)

// simGPU is a simulated accelerator backend, registered for a test, so
// that load's GPU path (staging ring, pinned memory, streams, several
// devices, verification) runs without a GPU. Device memory is host
// memory; copies run when enqueued. corrupt makes Read flip a bit, so
// that --verify finds a difference.
type simGPU struct {
	name    string
	count   int
	free    int64
	corrupt atomic.Bool

	mu     sync.Mutex
	live   int // allocations, pinned buffers, streams and devices not released
	pinned int64
}

var simSeq atomic.Int64

// newSimGPU registers a backend of count devices with free bytes each,
// and checks at the end of the test that everything was released.
func newSimGPU(t *testing.T, count int, free int64) *simGPU {
	t.Helper()
	s := &simGPU{name: fmt.Sprintf("simgpu%d", simSeq.Add(1)), count: count, free: free}
	unregister := device.Register(s)
	t.Cleanup(func() {
		unregister()
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.live != 0 || s.pinned != 0 {
			t.Errorf("%s: %d objects and %d pinned bytes not released", s.name, s.live, s.pinned)
		}
	})
	return s
}

func (s *simGPU) dev(i int) string { return fmt.Sprintf("%s:%d", s.name, i) }

func (s *simGPU) hold(n int, pinned int64) {
	s.mu.Lock()
	s.live += n
	s.pinned += pinned
	s.mu.Unlock()
}

func (s *simGPU) Name() string        { return s.name }
func (s *simGPU) Count() (int, error) { return s.count, nil }

func (s *simGPU) Open(i int) (device.Accelerator, error) {
	if i < 0 || i >= s.count {
		return nil, fmt.Errorf("no device %d", i)
	}
	s.hold(1, 0)
	return &simAcc{s: s, index: i}, nil
}

type simAcc struct {
	s     *simGPU
	index int
}

func (a *simAcc) Index() int                     { return a.index }
func (a *simAcc) Name() string                   { return "Simulated GPU" }
func (a *simAcc) MemInfo() (int64, int64, error) { return a.s.free, a.s.free, nil }

func (a *simAcc) Alloc(n int64) (device.Memory, error) {
	a.s.hold(1, 0)
	return &simMem{s: a.s, buf: make([]byte, n)}, nil
}

func (a *simAcc) AllocHost(n int) (device.HostMemory, error) {
	a.s.hold(1, int64(n))
	return &simHost{s: a.s, buf: make([]byte, n)}, nil
}

func (a *simAcc) NewStream() (device.Stream, error) {
	a.s.hold(1, 0)
	return &simStream{s: a.s}, nil
}

func (a *simAcc) Read(dst []byte, src device.Memory, off int64) error {
	m := src.(*simMem)
	if off < 0 || off+int64(len(dst)) > int64(len(m.buf)) {
		return errors.New("read out of range")
	}
	copy(dst, m.buf[off:])
	if a.s.corrupt.Load() && len(dst) > 0 {
		dst[len(dst)/2] ^= 1
	}
	return nil
}

func (a *simAcc) Close() error { a.s.hold(-1, 0); return nil }

type simMem struct {
	s   *simGPU
	buf []byte
}

func (m *simMem) Ptr() uintptr {
	if len(m.buf) == 0 {
		return 0
	}
	return uintptr(1 << 40)
}
func (m *simMem) Len() int64  { return int64(len(m.buf)) }
func (m *simMem) Free() error { m.s.hold(-1, 0); return nil }

type simHost struct {
	s   *simGPU
	buf []byte
}

func (h *simHost) Bytes() []byte { return h.buf }
func (h *simHost) Free() error   { h.s.hold(-1, -int64(len(h.buf))); return nil }

// simStream performs each copy at once, so every event is complete.
type simStream struct{ s *simGPU }

func (st *simStream) Copy(c device.Copy) error {
	dst := c.Dst.(*simMem).buf
	if c.Height <= 1 {
		copy(dst[c.DstOff:c.DstOff+c.Width], c.Src[:c.Width])
		return nil
	}
	for r := range c.Height {
		d := c.DstOff + r*c.DstPitch
		copy(dst[d:d+c.Width], c.Src[r*c.SrcPitch:r*c.SrcPitch+c.Width])
	}
	return nil
}

func (st *simStream) Record() (device.Event, error) { return simEvent{}, nil }
func (st *simStream) Sync() error                   { return nil }
func (st *simStream) Close() error                  { st.s.hold(-1, 0); return nil }

type simEvent struct{}

func (simEvent) Wait() error  { return nil }
func (simEvent) Close() error { return nil }
