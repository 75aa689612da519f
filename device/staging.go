package device

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
)

// ring is the fixed set of pinned staging buffers: at most count buffers
// of size bytes, pinned while the load runs (pinning costs about 0.4 ms
// per MiB, see fitRing, so the first chunks flow before the whole ring is
// pinned): by a background goroutine, one after the other (startPinning),
// or with Tuning.LazyPinning by the readers, the first time the pipeline
// needs one more. They are recycled through free. A ring belongs to a
// Placer and lives across its loads.
type ring struct {
	ref    *accRef // the accelerator whose AllocHost made the buffers
	size   int
	count  int
	mapped bool // pinned by a mappedHostAllocator (Tuning.MappedHost)

	mu   sync.Mutex
	made int // buffers pinned or being pinned
	all  []HostMemory
	free chan HostMemory
	// waiting counts the gets blocked on free, and need is signalled when
	// one blocks, for the background pinner (startPinning).
	waiting atomic.Int32
	need    chan struct{}
}

func newRing(ref *accRef, size, count int, mapped bool) *ring {
	return &ring{ref: ref.retain(), size: size, count: count, mapped: mapped, free: make(chan HostMemory, count),
		need: make(chan struct{}, 1)}
}

// get returns a free buffer, waiting for one to be put back or pinned.
// With lazy set it pins a new one itself while fewer than count exist.
// Pinning happens outside the lock, so readers may pin in parallel and a
// buffer that comes back in the meantime is not held up by a slow
// allocation.
func (r *ring) get(ctx context.Context, lazy bool) (HostMemory, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	select {
	case b := <-r.free:
		return b, nil
	default:
	}
	r.mu.Lock()
	if lazy && r.made < r.count {
		r.made++
		r.mu.Unlock()
		return r.pin()
	}
	r.mu.Unlock()
	r.waiting.Add(1)
	defer r.waiting.Add(-1)
	select {
	case r.need <- struct{}{}:
	default:
	}
	select {
	case b := <-r.free:
		return b, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// pinAhead pins one more buffer, while fewer than limit exist, and puts
// it in free; ok is false when there are limit buffers already.
func (r *ring) pinAhead(limit int) (ok bool, err error) {
	r.mu.Lock()
	if r.made >= min(limit, r.count) {
		r.mu.Unlock()
		return false, nil
	}
	r.made++
	r.mu.Unlock()
	b, err := r.pin()
	if err != nil {
		return true, err
	}
	r.put(b)
	return true, nil
}

// pin allocates one more buffer, whose slot the caller has reserved.
func (r *ring) pin() (HostMemory, error) {
	var b HostMemory
	var err error
	if m, ok := r.ref.acc.(mappedHostAllocator); ok && r.mapped {
		b, err = m.AllocHostMapped(r.size)
	} else {
		b, err = r.ref.acc.AllocHost(r.size)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.made--
		return nil, &Error{Op: "alloc pinned host memory", Device: r.ref.dev.String(), Err: backendError(err)}
	}
	r.all = append(r.all, b)
	return b, nil
}

// pinnedCount returns the number of buffers pinned or being pinned.
func (r *ring) pinnedCount() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return int64(r.made)
}

// put returns a buffer whose copies have all completed.
func (r *ring) put(b HostMemory) { r.free <- b }

// pinned returns the bytes pinned so far.
func (r *ring) pinned() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return int64(len(r.all)) * int64(r.size)
}

// close frees every buffer; none may be in use.
func (r *ring) close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var errs []error
	for _, b := range r.all {
		if err := b.Free(); err != nil {
			errs = append(errs, &Error{Op: "free pinned host memory", Device: r.ref.dev.String(), Err: err})
		}
	}
	r.all, r.made = nil, 0
	errs = append(errs, r.ref.release())
	return errors.Join(errs...)
}
