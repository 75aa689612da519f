package device

import (
	"context"
	"errors"
	"sync"
)

// ring is the fixed set of pinned staging buffers: at most count buffers
// of size bytes, allocated the first time the pipeline needs one more
// (pinning costs about 0.4 ms per MiB, see fitRing, so the first chunks
// flow before the whole ring is pinned) and recycled through free. It
// belongs to a Loader and lives across its loads.
type ring struct {
	ref   *accRef // the accelerator whose AllocHost made the buffers
	size  int
	count int

	mu   sync.Mutex
	made int // buffers pinned or being pinned
	all  []HostMemory
	free chan HostMemory
}

func newRing(ref *accRef, size, count int) *ring {
	return &ring{ref: ref.retain(), size: size, count: count, free: make(chan HostMemory, count)}
}

// get returns a free buffer, pinning a new one while fewer than count
// exist, else waiting for one to be put back. Pinning happens outside the
// lock, so readers may pin in parallel and a buffer that comes back in the
// meantime is not held up by a slow allocation.
func (r *ring) get(ctx context.Context) (HostMemory, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	select {
	case b := <-r.free:
		return b, nil
	default:
	}
	r.mu.Lock()
	if r.made < r.count {
		r.made++
		r.mu.Unlock()
		return r.pin()
	}
	r.mu.Unlock()
	select {
	case b := <-r.free:
		return b, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// pin allocates one more buffer, whose slot get has reserved.
func (r *ring) pin() (HostMemory, error) {
	b, err := r.ref.acc.AllocHost(r.size)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.made--
		return nil, &Error{Op: "alloc pinned host memory", Device: r.ref.dev.String(), Err: err}
	}
	r.all = append(r.all, b)
	return b, nil
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
	r.all, r.made = nil, 0
	errs = append(errs, r.ref.release())
	return errors.Join(errs...)
}
