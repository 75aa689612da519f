package device

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// exec is one run of the pipeline. Goroutines:
//
//   - the feeder allocates each file's device memory (one allocation per
//     device, just before the file's work, so later files' allocations
//     overlap earlier files' copies) and cuts the plan's pieces into jobs:
//     chunks of at most one staging buffer, and direct jobs for the CPU;
//   - R readers take jobs; for a chunk, a reader takes a pinned buffer from
//     the ring, fills it from the file (converting if asked), enqueues its
//     copies on one stream of each device the chunk feeds, records one
//     event per device and hands the buffer to the reaper; a direct job is
//     read straight into CPU memory;
//   - the reaper waits on each chunk's events (all of them: a chunk may
//     feed several devices) and only then returns the buffer to the ring.
//
// Nothing is synchronised per tensor: one event per chunk and device, one
// atomic add per chunk for progress.
type exec struct {
	l      *Loader
	p      *Plan
	cfg    *config
	parent context.Context
	ctx    context.Context
	cancel context.CancelFunc
	start  time.Time
	slots  []*slotState
	mems   [][]memory // per file, per allocation
	ring   *ring

	// registrar page-locks windows of mappings (WithRegister), or is nil;
	// windows bounds how many are locked at once, locked their bytes.
	registrar Registrar
	windows   chan struct{}
	locked    atomic.Int64
	maxLocked atomic.Int64

	mu     sync.Mutex
	err    error
	done   atomic.Int64 // bytes placed
	chunks atomic.Int64
}

// slotState is one device of the plan during a load.
type slotState struct {
	dev     Device
	ref     *accRef // nil for the CPU
	name    string
	streams []Stream
	first   atomic.Int64 // nanoseconds from start to the first landed chunk
	last    atomic.Int64 // ... to the last
}

// mark records that bytes landed at now (nanoseconds since start).
func (s *slotState) mark(now int64) {
	s.first.CompareAndSwap(0, now)
	for {
		l := s.last.Load()
		if now <= l || s.last.CompareAndSwap(l, now) {
			return
		}
	}
}

// memory is one allocation: device memory or CPU bytes.
type memory struct {
	dev Memory
	cpu []byte
}

// job is a unit of reader work: a chunk to stage (segs), or a direct read
// of part of a piece into CPU memory.
type job struct {
	file int
	seq  int64 // chunk number, which picks the stream
	segs []seg

	// mapped jobs copy straight from window number window of the file's
	// mapping (WithRegister); their segs' offsets are within the window.
	mapped bool
	window int64

	direct         bool
	piece, target  int
	r0, r1, c0, c1 int64
}

// seg is the part of a piece staged in a chunk: rows [r0, r1), columns
// [c0, c1) of each (in converted bytes), at offset off of the buffer. A
// seg is either a band of whole rows or a run of columns of one row.
type seg struct {
	piece               int
	r0, r1, c0, c1, off int64
}

func (s *seg) len() int64 { return (s.r1 - s.r0) * (s.c1 - s.c0) }

// flight is a filled staging buffer, or a page-locked window of a
// mapping, whose copies are in flight.
type flight struct {
	buf    HostMemory
	file   int
	mapped bool // buf is a registered window: unregister it, don't recycle it
	events []flightEvent
}

// flightEvent marks the copies of one chunk to one device.
type flightEvent struct {
	ev     Event
	slot   int
	bytes  int64
	piece  int
	srcOff int64
}

// newExec opens the plan's accelerators, creates their streams and picks
// the staging ring.
func (l *Loader) newExec(ctx context.Context, p *Plan) (*exec, error) {
	e := &exec{l: l, p: p, cfg: &p.cfg, parent: ctx, mems: make([][]memory, len(p.Files)),
		windows: make(chan struct{}, p.cfg.chunks)}
	e.ctx, e.cancel = context.WithCancel(ctx)
	used := make([]bool, len(p.Devices))
	for _, fp := range p.Files {
		for _, a := range fp.Allocs {
			used[a.Device] = used[a.Device] || a.Size > 0
		}
	}
	for i, d := range p.Devices {
		s := &slotState{dev: d, name: "cpu"}
		e.slots = append(e.slots, s)
		if d.IsCPU() || !used[i] {
			continue
		}
		if err := e.openSlot(s); err != nil {
			e.closeStreams()
			e.cancel()
			return nil, err
		}
		if e.ring == nil {
			r, err := l.stagingRing(e.cfg, s.ref)
			if err != nil {
				e.closeStreams()
				e.cancel()
				return nil, err
			}
			e.ring = r
		}
	}
	e.registrar = e.pickRegistrar()
	return e, nil
}

// pickRegistrar returns the accelerator that page-locks mapping windows
// for WithRegister, or nil: every accelerator of the load must implement
// Registrar, since windows feed them all.
func (e *exec) pickRegistrar() Registrar {
	if !e.cfg.register {
		return nil
	}
	var first Registrar
	for _, s := range e.slots {
		if s.ref == nil {
			continue
		}
		r, ok := s.ref.acc.(Registrar)
		if !ok {
			return nil
		}
		if first == nil {
			first = r
		}
	}
	return first
}

// openSlot opens an accelerator and its streams.
func (e *exec) openSlot(s *slotState) error {
	ref, err := e.l.accelerator(s.dev)
	if err != nil {
		return err
	}
	s.ref, s.name = ref, ref.acc.Name()
	for range e.cfg.streams {
		st, err := ref.acc.NewStream()
		if err != nil {
			return &Error{Op: "create stream", Device: s.dev.String(), Err: err}
		}
		s.streams = append(s.streams, st)
	}
	return nil
}

// fail records the first error and stops the load.
func (e *exec) fail(err error) {
	e.mu.Lock()
	if e.err == nil {
		e.err = err
	}
	e.mu.Unlock()
	e.cancel()
}

// since returns the nanoseconds since the load started, at least 1.
func (e *exec) since() int64 { return max(1, int64(time.Since(e.start))) }

// run executes the plan and builds the Set.
func (e *exec) run() (*Set, error) {
	e.start = time.Now()
	stopProgress := e.startProgress()
	jobs := make(chan *job, e.cfg.readers)
	flights := make(chan *flight, e.cfg.chunks+e.cfg.readers)
	var feeder, readers, reaper sync.WaitGroup
	feeder.Go(func() { e.feed(jobs) })
	for range e.cfg.readers {
		readers.Go(func() { e.read(jobs, flights) })
	}
	reaper.Go(func() { e.reap(flights) })
	readers.Wait()
	close(flights)
	reaper.Wait()
	feeder.Wait()
	e.closeStreams() // waits for every copy, also after an error
	stopProgress()
	e.cancel()
	if err := e.result(); err != nil {
		e.freeAll()
		return nil, err
	}
	if fn := e.cfg.progress; fn != nil {
		fn(e.p.Bytes, e.p.Bytes)
	}
	return e.buildSet(), nil
}

// result returns the load's error: the first failure, else the
// cancellation if it stopped the load before every byte was placed.
func (e *exec) result() error {
	e.mu.Lock()
	err := e.err
	e.mu.Unlock()
	if err == nil && e.done.Load() != e.p.Bytes {
		if cerr := e.parent.Err(); cerr != nil {
			return &Error{Op: "load", Detail: fmt.Sprintf("stopped after %d of %d bytes", e.done.Load(), e.p.Bytes), Err: cerr}
		}
		return &Error{Op: "load", Detail: fmt.Sprintf("placed %d of %d bytes", e.done.Load(), e.p.Bytes), Err: errors.New("internal error: incomplete load")}
	}
	return err
}

// closeStreams closes every stream, which waits for its copies.
func (e *exec) closeStreams() {
	for _, s := range e.slots {
		for _, st := range s.streams {
			if err := st.Close(); err != nil {
				e.fail(&Error{Op: "close stream", Device: s.dev.String(), Err: err})
			}
		}
		s.streams = nil
	}
}

// freeAll frees the memory of a failed load.
func (e *exec) freeAll() {
	for _, ms := range e.mems {
		for _, m := range ms {
			if m.dev != nil {
				m.dev.Free() // the load's error matters more
			}
		}
	}
	e.mems = nil
}

// startProgress runs the progress callback on a ticker; the returned
// function stops it.
func (e *exec) startProgress() func() {
	fn := e.cfg.progress
	if fn == nil {
		return func() {}
	}
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(e.cfg.every)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				fn(e.done.Load(), e.p.Bytes)
			case <-stop:
				return
			}
		}
	}()
	return func() {
		close(stop)
		<-stopped
	}
}

// allocate makes the allocations of file fi.
func (e *exec) allocate(fi int) bool {
	fp := &e.p.Files[fi]
	ms := make([]memory, len(fp.Allocs))
	e.mems[fi] = ms
	for i, a := range fp.Allocs {
		s := e.slots[a.Device]
		switch {
		case a.Size == 0:
		case s.ref == nil:
			ms[i].cpu = alignedBytes(a.Size)
		default:
			m, err := s.ref.acc.Alloc(a.Size)
			if err != nil {
				e.fail(&Error{Op: "alloc", Device: s.dev.String(), File: fp.File.Name(),
					Detail: fmt.Sprintf("%d bytes for %d tensors", a.Size, countOn(fp, i)), Err: err})
				return false
			}
			ms[i].dev = m
		}
	}
	return true
}

func countOn(fp *FilePlan, alloc int) int {
	n := 0
	for _, t := range fp.Tensors {
		if t.Alloc == alloc {
			n++
		}
	}
	return n
}

// reap waits for each chunk's copies, then recycles its buffer.
func (e *exec) reap(flights <-chan *flight) {
	for fl := range flights {
		for _, fe := range fl.events {
			err := fe.ev.Wait()
			if cerr := fe.ev.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				e.fail(e.copyError(fl.file, fe.slot, fe.piece, fe.srcOff, err))
				continue
			}
			e.slots[fe.slot].mark(e.since())
			e.done.Add(fe.bytes)
		}
		e.chunks.Add(1)
		if !fl.mapped {
			e.ring.put(fl.buf)
			continue
		}
		n := int64(len(fl.buf.Bytes()))
		if err := fl.buf.Free(); err != nil {
			e.fail(&Error{Op: "unregister mapping", File: e.p.Files[fl.file].File.Name(), Err: err})
		}
		e.locked.Add(-n)
		<-e.windows
	}
}

// copyError names the tensor and device of a failed copy.
func (e *exec) copyError(file, slot, piece int, srcOff int64, err error) error {
	fp := &e.p.Files[file]
	return &Error{Op: "copy", Device: e.slots[slot].dev.String(), File: fp.File.Name(),
		Tensor: fp.tensorAt(piece, srcOff), Err: err}
}

// tensorAt names the tensor of piece pi whose bytes include file offset off.
func (fp *FilePlan) tensorAt(pi int, off int64) string {
	p := &fp.Pieces[pi]
	name := fp.Tensors[p.First].Name
	for _, t := range fp.Tensors[p.First : p.First+p.Count] {
		if t.Source.Offset() > off {
			break
		}
		name = t.Name
	}
	return name
}

// buildSet turns the placed plan into a Set.
func (e *exec) buildSet() *Set {
	n := 0
	for _, fp := range e.p.Files {
		n += len(fp.Tensors)
	}
	s := &Set{byName: make(map[string]int, n), accs: make(map[Device]*accRef),
		tensors: make([]*Tensor, 0, n)}
	elapsed := time.Since(e.start)
	st := make([]DeviceStats, len(e.slots))
	for i, sl := range e.slots {
		st[i] = DeviceStats{Device: sl.dev, Name: sl.name,
			Elapsed: time.Duration(sl.last.Load()), FirstTensor: time.Duration(sl.first.Load())}
		if st[i].Elapsed == 0 { // nothing copied: views, or empty tensors
			st[i].Elapsed = elapsed
		}
	}
	for fi := range e.p.Files {
		fp := &e.p.Files[fi]
		s.files = append(s.files, fp.File)
		e.addTensors(s, fi, fp, st)
		for i, a := range fp.Allocs {
			st[a.Device].Allocs++
			if m := e.mems[fi][i]; m.dev != nil {
				s.mems = append(s.mems, m.dev)
			} else if m.cpu != nil {
				s.cpu = append(s.cpu, m.cpu)
			}
		}
	}
	for _, sl := range e.slots {
		if sl.ref != nil {
			s.refs = append(s.refs, sl.ref.retain())
			s.accs[sl.dev] = sl.ref
		}
	}
	s.stats = Stats{Elapsed: elapsed, Copied: e.p.Bytes, Tensors: len(s.tensors),
		Chunks: e.chunks.Load(), Devices: st}
	for _, d := range st {
		s.stats.Bytes += d.Bytes
	}
	if e.ring != nil {
		s.stats.PeakPinned = e.ring.pinned()
	}
	s.stats.PeakLocked = e.maxLocked.Load()
	return s
}

// addTensors adds the tensors of one file to s.
func (e *exec) addTensors(s *Set, fi int, fp *FilePlan, st []DeviceStats) {
	var mapped []byte
	ts := make([]Tensor, len(fp.Tensors)) // one allocation for the file's tensors
	for k := range fp.Tensors {
		pl := &fp.Tensors[k]
		t := &ts[k]
		*t = Tensor{Name: pl.Name, Device: e.p.Devices[pl.Device], DType: pl.DType, Shape: pl.Shape,
			Dim: pl.Dim, Shard: pl.Shard, Shards: pl.Shards, Offset: pl.Offset, Len: pl.Len,
			Source: pl.Source, file: fp.File}
		switch {
		case pl.Alloc < 0:
			if mapped == nil {
				mapped = fp.File.Mapped()
			}
			t.data = mapped[pl.Offset : pl.Offset+pl.Len : pl.Offset+pl.Len]
		case e.mems[fi][pl.Alloc].dev != nil:
			t.Memory = e.mems[fi][pl.Alloc].dev
		default:
			t.data = e.mems[fi][pl.Alloc].cpu[pl.Offset : pl.Offset+pl.Len : pl.Offset+pl.Len]
		}
		st[pl.Device].Tensors++
		st[pl.Device].Bytes += pl.Len
		if pl.Alloc >= 0 { // copied: the load placed every planned byte
			st[pl.Device].Copied += pl.Len
		}
		if t.Shard == 0 { // a tensor's shards follow each other
			s.byName[t.Name] = len(s.tensors)
		}
		s.tensors = append(s.tensors, t)
	}
}
