package device

import (
	"context"
	"errors"
	"sync"

	"github.com/stload/stload/loader"
)

// Loader places tensors of safetensors files on devices. It keeps what is
// costly to set up between loads: the opened accelerators and the ring of
// pinned staging buffers. Loads on one Loader run one at a time; use
// several Loaders to load concurrently. Close releases it; [Set]s it made
// stay valid until their own Close.
type Loader struct {
	opts []Option

	mu     sync.Mutex // held through a load: the ring is shared
	ring   *ring
	accMu  sync.Mutex
	accs   map[Device]*accRef
	closed bool
}

// NewLoader returns a Loader whose loads use opts, before the options
// given to each load. Nothing is opened or allocated until a load needs it.
func NewLoader(opts ...Option) *Loader {
	return &Loader{opts: opts, accs: make(map[Device]*accRef)}
}

// Load places the tensors of files as the options say, in one call:
// [NewLoader], [Loader.Load], [Loader.Close]. The pinned staging ring is
// freed before it returns; the devices stay open until the Set is closed.
func Load(ctx context.Context, files []*loader.File, opts ...Option) (*Set, error) {
	l := NewLoader(opts...)
	s, err := l.Load(ctx, files)
	return s, errors.Join(err, l.Close())
}

// Load plans and executes the load of files: [Loader.Plan] then
// [Loader.Execute]. The files must stay open during the load, and while
// CPU tensors that are views of their mappings are used.
func (l *Loader) Load(ctx context.Context, files []*loader.File, opts ...Option) (*Set, error) {
	p, err := l.Plan(files, opts...)
	if err != nil {
		return nil, err
	}
	return l.Execute(ctx, p)
}

// Plan resolves the devices and computes the placement of files without
// copying anything. It opens the accelerators it needs, to check that they
// exist and to read their free memory.
func (l *Loader) Plan(files []*loader.File, opts ...Option) (*Plan, error) {
	cfg := newConfig(append(append([]Option(nil), l.opts...), opts...))
	if cfg.err != nil {
		return nil, cfg.err
	}
	target := cfg.target
	if cfg.auto {
		var err error
		if target, err = Auto(); err != nil {
			return nil, err
		}
	}
	for _, d := range target {
		if err := Check(d); err != nil {
			return nil, err
		}
	}
	for _, r := range cfg.rules {
		for _, d := range r.devs {
			if err := Check(d); err != nil {
				return nil, err
			}
		}
	}
	p, err := buildPlan(files, target, &cfg, l.freeMemory)
	if err != nil {
		return nil, err
	}
	p.fitRing()
	return p, nil
}

// fitRing shrinks the staging ring of a load smaller than it: pinning
// costs about 0.4 ms per MiB (cuMemHostAlloc of 256 MiB took 89 to 106 ms
// on the H200 host of bench/RESULTS.md), so a load of a few megabytes must
// not pin the default 256 MiB. Chunks never span files, so the largest
// file's staged bytes bound the useful chunk size.
func (p *Plan) fitRing() {
	var total, largest int64
	for _, fp := range p.Files {
		var staged int64
		for i := range fp.Pieces {
			pc := &fp.Pieces[i]
			for _, t := range pc.Targets {
				if !p.Devices[fp.Allocs[t.Alloc].Device].IsCPU() {
					staged += pc.Staged()
					break
				}
			}
		}
		total += staged
		largest = max(largest, staged)
	}
	if total == 0 {
		return
	}
	const slack = 64 << 10 // room for the chunker's alignment padding
	if size := roundUp(largest+slack, slack); size < int64(p.cfg.chunkSize) {
		p.cfg.chunkSize = int(size)
	}
	size := int64(p.cfg.chunkSize)
	if need := (total+size-1)/size + int64(len(p.Files)); need < int64(p.cfg.chunks) {
		p.cfg.chunks = int(need)
	}
}

// freeMemory reports the free memory of an accelerator, opening it.
func (l *Loader) freeMemory(d Device) (int64, error) {
	r, err := l.accelerator(d)
	if err != nil {
		return 0, err
	}
	free, _, err := r.acc.MemInfo()
	if err != nil {
		return 0, &Error{Op: "memory info", Device: d.String(), Err: err}
	}
	return free, nil
}

// accelerator returns d opened, opening it on first use.
func (l *Loader) accelerator(d Device) (*accRef, error) {
	l.accMu.Lock()
	defer l.accMu.Unlock()
	if l.closed {
		return nil, &Error{Op: "open", Device: d.String(), Err: ErrClosed}
	}
	if r, ok := l.accs[d]; ok {
		return r, nil
	}
	b, err := backendFor(d)
	if err != nil {
		return nil, err
	}
	a, err := b.Open(d.Index)
	if err != nil {
		return nil, &Error{Op: "open", Device: d.String(), Err: err}
	}
	r := &accRef{acc: a, dev: d}
	r.n.Store(1)
	l.accs[d] = r
	return r, nil
}

// Execute carries out a plan made by this Loader's [Loader.Plan]. On error
// or cancellation everything the load allocated is freed and the error
// names the tensor and device concerned (a cancellation wraps ctx.Err()).
func (l *Loader) Execute(ctx context.Context, p *Plan) (*Set, error) {
	if err := ctx.Err(); err != nil {
		return nil, &Error{Op: "load", Err: err}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, &Error{Op: "load", Err: ErrClosed}
	}
	e, err := l.newExec(ctx, p)
	if err != nil {
		return nil, err
	}
	return e.run()
}

// stagingRing returns the ring for cfg, made on acc when there is none or
// the options changed its geometry.
func (l *Loader) stagingRing(cfg *config, ref *accRef) (*ring, error) {
	if r := l.ring; r != nil {
		if r.size >= cfg.chunkSize && r.count >= cfg.chunks && r.mapped == (cfg.perf.hostAlloc == HostAllocMapped) {
			return r, nil // a ring fitted to a smaller load also serves this one
		}
		l.ring = nil
		if err := r.close(); err != nil {
			return nil, err
		}
	}
	l.ring = newRing(ref, cfg.chunkSize, cfg.chunks, cfg.perf.hostAlloc == HostAllocMapped)
	return l.ring, nil
}

// Close frees the staging ring and releases the Loader's hold on the
// accelerators. It must not be called during a load.
func (l *Loader) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.accMu.Lock()
	defer l.accMu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	var errs []error
	if l.ring != nil {
		errs = append(errs, l.ring.close())
		l.ring = nil
	}
	for _, r := range l.accs {
		errs = append(errs, r.release())
	}
	l.accs = nil
	return errors.Join(errs...)
}
