package device

import (
	"context"
	"errors"
	"io/fs"
	"sync"
)

// Placer places tensors of safetensors files on devices. It keeps what
// is costly to set up between loads: the opened accelerators and the ring
// of pinned staging buffers. Loads on one Placer run one at a time; use
// several Placers to load concurrently. Close releases it; [Set]s it made
// stay valid until their own Close.
type Placer struct {
	opts []Option

	mu     sync.Mutex // held through a load: the ring is shared
	ring   *ring
	accMu  sync.Mutex
	accs   map[Device]*accRef
	closed bool
}

// NewPlacer returns a Placer whose loads use opts, before the options
// given to each load. Nothing is opened or allocated until a load needs it.
func NewPlacer(opts ...Option) *Placer {
	return &Placer{opts: opts, accs: make(map[Device]*accRef)}
}

// Load places the tensors of src as the options say, in one call:
// [NewPlacer], [Placer.Load], [Placer.Close]. The pinned staging ring is
// freed before it returns; the devices stay open until the Set is closed.
// It returns a Set or an error, never both.
func Load(ctx context.Context, src Source, opts ...Option) (*Set, error) {
	p := NewPlacer(opts...)
	s, err := p.Load(ctx, src)
	if cerr := p.Close(); cerr != nil {
		if s != nil {
			cerr = errors.Join(cerr, s.Close())
		}
		return nil, errors.Join(err, cerr)
	}
	return s, err
}

// Load plans and executes the load of src: [Placer.Plan] then
// [Placer.Execute]. The files must stay open during the load; CPU tensors
// that are views of a file's mapping stay valid until the Set is closed.
func (p *Placer) Load(ctx context.Context, src Source, opts ...Option) (*Set, error) {
	plan, err := p.Plan(src, opts...)
	if err != nil {
		return nil, err
	}
	return p.Execute(ctx, plan)
}

// Plan resolves the devices and computes the placement of src without
// copying anything. It opens the accelerators it needs, to check that they
// exist and to read their free memory.
func (p *Placer) Plan(src Source, opts ...Option) (*Plan, error) {
	files, err := sourceFiles(src)
	if err != nil {
		return nil, err
	}
	cfg := newConfig(append(append([]Option(nil), p.opts...), opts...))
	if cfg.err != nil {
		return nil, cfg.err
	}
	target := cfg.target
	if cfg.auto {
		if target, err = autoDevices(); err != nil {
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
	plan, err := buildPlan(files, target, &cfg, p.freeMemory)
	if err != nil {
		return nil, err
	}
	plan.fitRing()
	return plan, nil
}

// fitRing shrinks the staging ring of a load smaller than it: pinning is
// slow (about 0.4 ms per MiB on the H200 host of bench/RESULTS.md), so a
// load of a few megabytes must not pin the default 256 MiB. Chunks never span files, so the largest
// file's staged bytes bound the useful chunk size.
func (p *Plan) fitRing() {
	var total, largest int64
	for _, fp := range p.files {
		var staged int64
		for i := range fp.Pieces {
			pc := &fp.Pieces[i]
			for _, t := range pc.Targets {
				if !p.devices[fp.Allocs[t.Alloc].Device].IsCPU() {
					staged += pc.staged()
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
	if need := (total+size-1)/size + int64(len(p.files)); need < int64(p.cfg.chunks) {
		p.cfg.chunks = int(need)
	}
}

// freeMemory reports the free memory of an accelerator, opening it.
func (p *Placer) freeMemory(d Device) (int64, error) {
	r, err := p.accelerator(d)
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
func (p *Placer) accelerator(d Device) (*accRef, error) {
	p.accMu.Lock()
	defer p.accMu.Unlock()
	if p.closed {
		return nil, &Error{Op: "open", Device: d.String(), Detail: "the Placer is closed", Err: fs.ErrClosed}
	}
	if r, ok := p.accs[d]; ok {
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
	p.accs[d] = r
	return r, nil
}

// Execute carries out a plan made by [Placer.Plan]. On error or
// cancellation everything the load allocated is freed, no Set is
// returned, and the error names the tensor and device concerned (a
// cancellation wraps ctx.Err(); a file closed since the plan was made,
// [fs.ErrClosed]).
func (p *Placer) Execute(ctx context.Context, plan *Plan) (*Set, error) {
	if plan == nil {
		return nil, &Error{Op: "load", Detail: "nil plan", Err: ErrPlacement}
	}
	if err := ctx.Err(); err != nil {
		return nil, &Error{Op: "load", Err: err}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, &Error{Op: "load", Detail: "the Placer is closed", Err: fs.ErrClosed}
	}
	e, err := p.newLoadRun(plan)
	if err != nil {
		return nil, err
	}
	return e.run(ctx)
}

// stagingRing returns the ring for cfg, made on acc when there is none or
// the options changed its geometry.
func (p *Placer) stagingRing(cfg *config, ref *accRef) (*ring, error) {
	if r := p.ring; r != nil {
		if r.size >= cfg.chunkSize && r.count >= cfg.chunks && r.mapped == cfg.perf.mappedHost {
			return r, nil // a ring fitted to a smaller load also serves this one
		}
		p.ring = nil
		if err := r.close(); err != nil {
			return nil, err
		}
	}
	p.ring = newRing(ref, cfg.chunkSize, cfg.chunks, cfg.perf.mappedHost)
	return p.ring, nil
}

// Close frees the staging ring and releases the Placer's hold on the
// accelerators. It must not be called during a load.
func (p *Placer) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.accMu.Lock()
	defer p.accMu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	var errs []error
	if p.ring != nil {
		errs = append(errs, p.ring.close())
		p.ring = nil
	}
	for _, r := range p.accs {
		errs = append(errs, r.release())
	}
	p.accs = nil
	return errors.Join(errs...)
}
