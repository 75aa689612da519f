package device

import (
	"context"
	"errors"
	"sync"
)

// ring is the fixed set of pinned staging buffers: at most count buffers
// of size bytes, allocated the first time the pipeline needs one more
// (pinning costs about 1 ms per MiB, so the first chunks flow before the
// whole ring is pinned) and recycled through free. It belongs to a Loader
// and lives across its loads.
type ring struct {
	ref   *accRef // the accelerator whose AllocHost made the buffers
	size  int
	count int

	mu   sync.Mutex
	all  []HostMemory
	free chan HostMemory
}

func newRing(ref *accRef, size, count int) *ring {
	return &ring{ref: ref.retain(), size: size, count: count, free: make(chan HostMemory, count)}
}

// get returns a free buffer, pinning a new one while fewer than count
// exist, else waiting for one to be put back.
func (r *ring) get(ctx context.Context) (HostMemory, error) {
	select {
	case b := <-r.free:
		return b, nil
	default:
	}
	r.mu.Lock()
	if len(r.all) < r.count {
		b, err := r.ref.acc.AllocHost(r.size)
		if err == nil {
			r.all = append(r.all, b)
		}
		r.mu.Unlock()
		if err != nil {
			return nil, &Error{Op: "alloc pinned host memory", Device: r.ref.dev.String(), Err: err}
		}
		return b, nil
	}
	r.mu.Unlock()
	select {
	case b := <-r.free:
		return b, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
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
		errs = append(errs, b.Free())
	}
	r.all = nil
	errs = append(errs, r.ref.release())
	return errors.Join(errs...)
}
