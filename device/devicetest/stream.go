package devicetest

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stload/stload/device"
)

// stream is a simulated stream: each copy lands on a goroutine of its own
// after a random delay, unless Options.Delay is 0.
type stream struct {
	a       *accelerator
	mu      sync.Mutex
	pending []chan struct{}
	closed  bool
}

// rows calls fn for each row of c with its source and destination offset.
func rows(c device.Copy, fn func(src []byte, dst int64)) {
	if c.Height == 1 {
		fn(c.Src[:c.Width], c.DstOff)
		return
	}
	for r := range c.Height {
		fn(c.Src[r*c.SrcPitch:r*c.SrcPitch+c.Width], c.DstOff+r*c.DstPitch)
	}
}

// need is the number of source bytes a copy reads.
func need(c device.Copy) int64 {
	if c.Height > 1 {
		return (c.Height-1)*c.SrcPitch + c.Width
	}
	return c.Width
}

// validate checks c as a driver would, and that its source is pinned.
func (st *stream) validate(c device.Copy) (*memory, error) {
	b := st.a.b
	m, ok := c.Dst.(*memory)
	if !ok || !b.live(m) {
		return nil, errors.New("devicetest: copy to memory that is not live")
	}
	if c.Width <= 0 || c.Height <= 0 {
		return nil, fmt.Errorf("devicetest: copy of %d×%d", c.Height, c.Width)
	}
	end := c.DstOff + c.Width
	if c.Height > 1 {
		if c.SrcPitch < c.Width || c.DstPitch < c.Width {
			return nil, fmt.Errorf("devicetest: pitches %d/%d below width %d", c.SrcPitch, c.DstPitch, c.Width)
		}
		end = c.DstOff + (c.Height-1)*c.DstPitch + c.Width
	}
	n := need(c)
	if int64(len(c.Src)) < n || c.DstOff < 0 || end > m.n {
		return nil, fmt.Errorf("devicetest: copy out of range: src %d of %d, dst [%d,%d) of %d", n, len(c.Src), c.DstOff, end, m.n)
	}
	if !b.pinnedHas(c.Src[:n]) {
		b.violate("copy from memory that is not pinned")
		return nil, errors.New("devicetest: source is not pinned memory")
	}
	return m, nil
}

func (st *stream) Copy(c device.Copy) error {
	b := st.a.b
	if b.hit(opCopy) {
		return errors.New("devicetest: injected fault in a copy")
	}
	m, err := st.validate(c)
	if err != nil {
		return err
	}
	if b.o.Delay == 0 {
		rows(c, func(src []byte, dst int64) { copy(m.buf[dst:], src) })
		return nil
	}
	var snap []byte
	rows(c, func(src []byte, _ int64) { snap = append(snap, src...) })
	done := make(chan struct{})
	delay := rand.N(b.o.Delay)
	go func() {
		defer close(done)
		time.Sleep(delay)
		var now []byte
		rows(c, func(src []byte, _ int64) { now = append(now, src...) })
		if !bytes.Equal(now, snap) {
			b.violate("staging buffer overwritten while its copy was in flight")
		}
		if !b.pinnedHas(c.Src[:need(c)]) {
			b.violate("source unpinned or unregistered while its copy was in flight")
		}
		if !b.live(m) {
			b.violate("copy completed into freed memory")
			return
		}
		rows(c, func(src []byte, dst int64) { copy(m.buf[dst:], src) })
	}()
	st.mu.Lock()
	st.pending = append(st.pending, done)
	st.mu.Unlock()
	return nil
}

func (st *stream) Record() (device.Event, error) {
	b := st.a.b
	if b.hit(opRecord) {
		return nil, errors.New("devicetest: injected fault recording an event")
	}
	fail := b.hit(opWait)
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
	b.mu.Lock()
	b.liveEvents++
	b.mu.Unlock()
	return &event{b: b, wait: append([]chan struct{}(nil), live...), fail: fail}, nil
}

func (st *stream) Sync() error {
	st.mu.Lock()
	p := st.pending
	st.pending = nil
	st.mu.Unlock()
	for _, d := range p {
		<-d
	}
	return nil
}

func (st *stream) Close() error {
	st.Sync()
	st.mu.Lock()
	defer st.mu.Unlock()
	b := st.a.b
	if st.closed {
		b.violate("stream closed twice")
		return nil
	}
	st.closed = true
	b.mu.Lock()
	b.streams--
	b.mu.Unlock()
	return nil
}

// event waits for the copies pending when it was recorded.
type event struct {
	b      *Backend
	wait   []chan struct{}
	fail   bool
	closed atomic.Bool
}

func (e *event) Wait() error {
	for _, d := range e.wait {
		<-d
	}
	if e.fail {
		return errors.New("devicetest: injected fault in the copies before an event")
	}
	return nil
}

func (e *event) Close() error {
	if e.closed.Swap(true) {
		e.b.violate("event closed twice")
		return nil
	}
	e.b.mu.Lock()
	e.b.liveEvents--
	e.b.mu.Unlock()
	return nil
}
