//go:build cuda

package cuda

import (
	"runtime"
	"unsafe"

	"gorgonia.org/cu"
)

// opKind says what the issuing goroutine should do with an op.
type opKind uint8

const (
	opCopy          opKind = iota // linear host-to-device copy
	opCopy2D                      // pitched host-to-device copy
	opRecord                      // record ev on the stream
	opRelease                     // return ev to the pool, after its record
	opFence                       // reply on done: everything before is issued
	opDestroyStream               // destroy the stream, reply on done
	opQuit                        // stop the goroutine
)

// op is one request to the issuing goroutine. It travels by value through a
// buffered channel, so enqueueing a copy allocates nothing.
type op struct {
	kind   opKind
	s      *stream
	ev     *event
	done   chan error
	dst    cu.DevicePtr
	src    unsafe.Pointer // inside page-locked host memory (AllocHost, registerHost)
	width  int64
	height int64
	dpitch int64
	spitch int64
}

// opQueueLen bounds the requests waiting for the issuing goroutine. When it
// is full, Copy blocks: back-pressure rather than unbounded memory. Issuing
// takes a few microseconds per op, so the queue only fills if the driver
// itself stalls.
const opQueueLen = 1024

// run is the device's issuing goroutine. It owns an OS thread with the
// device's primary context current and executes ops in arrival order. It
// never waits for the GPU: cuMemcpy*Async and cuEventRecord return as soon as
// the work is queued, so one thread keeps up with any number of callers.
func (a *accel) run(started chan<- error) {
	// The thread is deliberately never unlocked: when this goroutine returns
	// the runtime terminates the thread, so no other goroutine ever runs on
	// a thread left with this context current.
	runtime.LockOSThread()
	defer close(a.done)
	if err := cu.SetCurrentContext(a.ctx); err != nil {
		started <- err
		return
	}
	started <- nil
	for {
		o := <-a.ops
		if o.kind == opQuit {
			return
		}
		a.exec(&o)
	}
}

// exec performs one op on the issuing goroutine. Copy errors are stored in
// the stream (the first one wins) and reported by the next Copy, Record,
// Wait or Sync on it; after an error the stream issues no more copies.
func (a *accel) exec(o *op) {
	switch o.kind {
	case opCopy, opCopy2D:
		s := o.s
		if s.dead || s.err.Load() != nil {
			return
		}
		var err error
		if o.kind == opCopy {
			err = cu.MemcpyHtoDAsync(o.dst, o.src, o.width, s.cs)
		} else {
			err = memcpy2DHtoDAsync(o.dst, o.dpitch, o.src, o.spitch, o.width, o.height, s.cs)
		}
		if err != nil {
			s.fail(&opError{Device: a.index, Op: "copy", Err: asResult(err)})
		}
	case opRecord:
		// The event is recorded even on a failed stream, so that Wait
		// still waits for the copies already in flight before reporting.
		var r recordResult
		if e := o.s.err.Load(); e != nil {
			r.err = e
		}
		if o.s.dead {
			if r.err == nil {
				r.err = &opError{Device: a.index, Op: "record event", Err: errClosed}
			}
		} else if err := o.ev.ev.Record(o.s.cs); err != nil {
			e := &opError{Device: a.index, Op: "record event", Err: asResult(err)}
			o.s.fail(e)
			if r.err == nil {
				r.err = e
			}
		} else {
			r.recorded = true
		}
		o.ev.ready <- r // capacity 1, and an event has one record in flight
	case opRelease:
		// The event's record came earlier in this queue, so its outcome is
		// already in ready; drain it so the next owner starts empty.
		select {
		case <-o.ev.ready:
		default:
		}
		a.putEvent(o.ev)
	case opFence:
		o.done <- nil
	case opDestroyStream:
		// Unlisting here, before the reply, means accel.Close never
		// sees (and destroys again) a stream this goroutine destroyed.
		a.mu.Lock()
		delete(a.streams, o.s)
		a.mu.Unlock()
		o.s.dead = true
		o.done <- newError(a.index, "destroy stream", o.s.cs.Destroy())
	}
}

// send enqueues o for the issuing goroutine, or fails once it has stopped.
func (a *accel) send(o op) bool {
	select {
	case a.ops <- o:
		return true
	case <-a.done:
		return false
	}
}

// fence waits until every op enqueued before it has been issued. Free and
// Close use it so that no queued copy can touch memory after it is freed.
func (a *accel) fence() bool {
	done := make(chan error, 1)
	if !a.send(op{kind: opFence, done: done}) {
		return false
	}
	select {
	case <-done:
		return true
	case <-a.done:
		return false
	}
}

// withCtx runs fn on the calling goroutine, locked to its OS thread with the
// device's primary context current, then restores the thread's previous
// context (normally none; a caller that locked its thread for a context of
// its own gets it back). It is how calls that may block (allocation,
// freeing, event and stream waits, synchronous reads) avoid holding up the
// issuing goroutine. Getting and setting the current context are
// thread-local operations in the driver: a few cheap cgo calls. (gorgonia's
// CurrentContext allocates 8 bytes per call; pushing and popping the
// context would not, but this is the form verified on an H200.)
func (a *accel) withCtx(fn func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	prev, err := cu.CurrentContext()
	if err != nil {
		return err
	}
	if prev != a.ctx {
		if err := cu.SetCurrentContext(a.ctx); err != nil {
			return err
		}
		defer cu.SetCurrentContext(prev)
	}
	return fn()
}
