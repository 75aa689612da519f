//go:build cuda

package cuda

import (
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"unsafe"

	"gorgonia.org/cu"

	"github.com/stload/stload/device"
)

// stream implements device.Stream on a CUDA stream created with
// CU_STREAM_NON_BLOCKING, so it never synchronises with the legacy default
// stream that other code in the process may use.
type stream struct {
	a      *accel
	cs     cu.Stream
	closed atomic.Bool
	// err holds the first failure of an op issued on the stream; once set,
	// the stream issues no more copies and reports it.
	err atomic.Pointer[opError]
	// dead is set by the issuing goroutine when it destroys the stream; only
	// that goroutine reads it.
	dead bool
}

func (s *stream) fail(e *opError) { s.err.CompareAndSwap(nil, e) }

func (s *stream) closedError(op string) error {
	return &opError{Device: s.a.index, Op: op, Err: errClosed}
}

// Copy validates c on the caller's goroutine and enqueues it for the issuing
// goroutine without waiting. Mistakes in c (bounds, freed or foreign memory,
// a source outside pinned memory) are reported at once; a failure of the
// driver call itself is reported by the next Copy, Record, Wait or Sync.
func (s *stream) Copy(c device.Copy) error {
	if s.closed.Load() {
		return s.closedError("copy")
	}
	if e := s.err.Load(); e != nil {
		return e
	}
	o, err := s.a.prepareCopy(c)
	if err != nil || o.width == 0 {
		return err
	}
	o.s = s
	if !s.a.send(o) {
		return s.closedError("copy")
	}
	return nil
}

// Record enqueues an event after everything enqueued on the stream so far.
// Events come from a per-device pool, so recording allocates nothing once
// the pool has warmed up.
func (s *stream) Record() (device.Event, error) {
	if s.closed.Load() {
		return nil, s.closedError("record event")
	}
	e, err := s.record()
	if err != nil {
		return nil, err
	}
	return e, nil
}

func (s *stream) record() (*event, error) {
	e, err := s.a.getEvent()
	if err != nil {
		return nil, err
	}
	if !s.a.send(op{kind: opRecord, s: s, ev: e}) {
		return nil, s.closedError("record event")
	}
	return e, nil
}

// Sync waits until everything enqueued so far has finished.
func (s *stream) Sync() error {
	if s.closed.Load() {
		return s.closedError("sync")
	}
	return s.sync()
}

func (s *stream) sync() error {
	e, err := s.record()
	if err != nil {
		return err
	}
	err = e.Wait()
	e.Close()
	return err
}

// Close waits for the stream's work, then destroys it on the issuing
// goroutine, after any op still queued for it.
func (s *stream) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return s.closedError("close stream")
	}
	err := s.sync()
	done := make(chan error, 1)
	if !s.a.send(op{kind: opDestroyStream, s: s, done: done}) {
		return s.closedError("close stream") // accel.Close destroys it
	}
	select {
	case derr := <-done:
		if err == nil {
			err = derr
		}
	case <-s.a.done:
	}
	return err
}

// prepareCopy checks c against the device and turns it into an op. It runs
// on the caller's goroutine, on the hot path: it must not allocate unless it
// reports an error.
func (a *accel) prepareCopy(c device.Copy) (op, error) {
	bad := func(format string, args ...any) (op, error) {
		return op{}, &opError{Device: a.index, Op: "copy", Err: fmt.Errorf("%w: "+format, append([]any{errInvalidCopy}, args...)...)}
	}
	if c.Width < 0 || c.Height < 0 {
		return bad("negative width %d or height %d", c.Width, c.Height)
	}
	if c.Width == 0 {
		return op{}, nil
	}
	if c.Height == 0 {
		return bad("height 0 (a linear copy has height 1)")
	}
	m, ok := c.Dst.(*memory)
	if !ok || m.a != a {
		return op{}, &opError{Device: a.index, Op: "copy", Err: errForeign}
	}
	if m.freed.Load() {
		return op{}, &opError{Device: a.index, Op: "copy", Err: errFreed}
	}
	o := op{kind: opCopy, width: c.Width, height: 1}
	srcSpan, dstSpan := c.Width, c.Width
	if c.Height > 1 {
		if c.SrcPitch < c.Width || c.DstPitch < c.Width {
			return bad("pitches (source %d, destination %d) smaller than width %d", c.SrcPitch, c.DstPitch, c.Width)
		}
		if c.SrcPitch > a.maxPitch || c.DstPitch > a.maxPitch {
			return bad("pitches (source %d, destination %d) above the device maximum %d", c.SrcPitch, c.DstPitch, a.maxPitch)
		}
		var ok1, ok2 bool
		srcSpan, ok1 = span(c.Width, c.Height, c.SrcPitch)
		dstSpan, ok2 = span(c.Width, c.Height, c.DstPitch)
		if !ok1 || !ok2 {
			return bad("%d rows of pitch %d/%d overflow", c.Height, c.SrcPitch, c.DstPitch)
		}
		o = op{kind: opCopy2D, width: c.Width, height: c.Height, spitch: c.SrcPitch, dpitch: c.DstPitch}
	}
	if c.DstOff < 0 || c.DstOff > m.n || dstSpan > m.n-c.DstOff {
		return bad("destination bytes [%d, %d) outside the %d-byte allocation", c.DstOff, c.DstOff+dstSpan, m.n)
	}
	if int64(len(c.Src)) < srcSpan {
		return bad("source holds %d bytes, the copy reads %d", len(c.Src), srcSpan)
	}
	p := unsafe.Pointer(unsafe.SliceData(c.Src))
	if !a.isPinned(uintptr(p), srcSpan) {
		return op{}, &opError{Device: a.index, Op: "copy", Err: errNotPinned}
	}
	o.dst = m.ptr + cu.DevicePtr(c.DstOff)
	o.src = p
	return o, nil
}

// span is the number of bytes height rows of width bytes cover when their
// starts are pitch apart; ok is false on overflow. pitch ≥ width > 0.
func span(width, height, pitch int64) (n int64, ok bool) {
	if height-1 > (math.MaxInt64-width)/pitch {
		return 0, false
	}
	return (height-1)*pitch + width, true
}

// event implements device.Event with a CUevent created with
// CU_EVENT_DISABLE_TIMING (timing costs extra work per record) and
// CU_EVENT_BLOCKING_SYNC (a waiting thread sleeps instead of spinning a core
// that the file readers need). Events are pooled per device: Record takes
// one, Close gives it back, so the loader's one event per chunk and device
// costs no allocation but the 8 bytes Wait's context switch takes. An event must not be used after Close, when another
// Record may already hold it.
type event struct {
	a  *accel
	ev cu.Event
	// ready receives the outcome of the pending record from the issuing
	// goroutine; Wait must not synchronise before the record has been
	// issued, or it would return at once.
	ready chan recordResult

	mu    sync.Mutex
	state uint8
	err   error
}

type recordResult struct {
	recorded bool  // the event was recorded and can be waited for
	err      error // first error of the stream's work before the record
}

const (
	evPending uint8 = iota // the record's outcome has not been received
	evDone                 // Wait has finished; err is final
	evClosed               // back in the pool, or about to be
)

// getEvent takes an event from the pool, creating one if the pool is empty
// (only while the pipeline warms up).
func (a *accel) getEvent() (*event, error) {
	a.mu.Lock()
	if n := len(a.freeEvents); n > 0 {
		e := a.freeEvents[n-1]
		a.freeEvents = a.freeEvents[:n-1]
		a.mu.Unlock()
		e.mu.Lock()
		e.state, e.err = evPending, nil
		e.mu.Unlock()
		return e, nil
	}
	a.mu.Unlock()
	e := &event{a: a, ready: make(chan recordResult, 1)}
	err := a.slow("create event", func() (err error) {
		e.ev, err = cu.MakeEvent(cu.DisableTiming | cu.BlockingSyncEvent)
		return err
	})
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	a.allEvents = append(a.allEvents, e)
	a.mu.Unlock()
	return e, nil
}

func (a *accel) putEvent(e *event) {
	a.mu.Lock()
	a.freeEvents = append(a.freeEvents, e)
	a.mu.Unlock()
}

// Wait blocks until the work before the event has finished. It runs on the
// caller's goroutine (cuEventSynchronize on a locked thread), never on the
// issuing goroutine, so waiting holds up no other copy.
func (e *event) Wait() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	switch e.state {
	case evClosed:
		return &opError{Device: e.a.index, Op: "event wait", Err: errClosed}
	case evDone:
		return e.err
	}
	var r recordResult
	select {
	case r = <-e.ready:
	case <-e.a.done:
		return &opError{Device: e.a.index, Op: "event wait", Err: errClosed}
	}
	e.err = r.err
	if r.recorded {
		if err := e.a.slow("event wait", e.ev.Synchronize); err != nil && e.err == nil {
			e.err = err
		}
	}
	e.state = evDone
	return e.err
}

// Close returns the event to its device's pool.
func (e *event) Close() error {
	e.mu.Lock()
	state := e.state
	e.state = evClosed
	e.mu.Unlock()
	switch state {
	case evClosed:
		return &opError{Device: e.a.index, Op: "close event", Err: errClosed}
	case evPending:
		// The record may still be queued: let the issuing goroutine pool
		// the event after it. If the device is closed, Close destroys it.
		e.a.send(op{kind: opRelease, ev: e})
	default:
		e.a.putEvent(e)
	}
	return nil
}
