package device

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// loadRun is one run of the pipeline. Goroutines:
//
//   - the feeder allocates each file's device memory (one allocation per
//     device, just before the file's work, so later files' allocations
//     overlap earlier files' copies) and cuts the plan's pieces into jobs:
//     chunks of at most one staging buffer, and CPU jobs;
//   - R readers take jobs; for a chunk, a reader takes a pinned buffer from
//     the ring, fills it from the file (converting if asked), enqueues its
//     copies on one stream of each device the chunk feeds, records one
//     event per device and hands the job to the reaper; a registered job
//     (WithRegister) page-locks its window of the mapping instead of
//     filling a buffer; a CPU job is read straight into CPU memory;
//   - the reaper waits on each chunk's events (all of them: a chunk may
//     feed several devices) and only then returns the buffer to the ring,
//     or unlocks the window.
//
// Nothing is synchronised per tensor: one event per chunk and device, one
// atomic add per chunk for progress. Jobs are recycled, so the pipeline
// itself allocates nothing per chunk.
type loadRun struct {
	placer *Placer
	p      *Plan
	cfg    *config
	// cancel stops the load's goroutines; the context they watch is
	// handed to each as a parameter by run, never kept here.
	cancel context.CancelFunc
	start  time.Time
	slots  []*slotState
	mems   [][]memory // per file, per allocation
	ring   *ring

	// maps holds each file's mapping (nil for a file read with pread),
	// under a lease from loader.File.Mapping taken for the load, so that
	// closing the file meanwhile cannot unmap it; leases ends them.
	maps   [][]byte
	leases []func()

	// registrar page-locks windows of windowSize bytes of mappings
	// (WithRegister), or is nil; registrarDev names its device. windows
	// bounds how many are locked at once, locked their bytes.
	registrar    Registrar
	registrarDev string
	windowSize   int64
	windows      chan struct{}
	locked       atomic.Int64
	maxLocked    atomic.Int64

	// spare holds recycled jobs, as many as the pipeline holds at once:
	// queued and being read (readers each), in flight (up to chunks).
	spare chan *job

	// rec records the load into its Timeline (WithTimeline), or is nil;
	// streamLane gives, per slot, the timeline lane of its first stream.
	rec        *recorder
	streamLane []int
	// direct holds, per file, the file opened for O_DIRECT reads of its
	// ranges that are not in the page cache (Tuning.NoDirectIO off), or nil; the
	// feeder sets a file's entry before sending its jobs.
	direct      []*directFile
	directBytes atomic.Int64
	// cut counts the chunks the feeder has started, which bounds the
	// staging buffers the load can use (startPinning).
	cut atomic.Int64

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
	raise(&s.last, now)
}

// raise sets a to v if v is larger (sync/atomic has no max).
func raise(a *atomic.Int64, v int64) {
	for {
		old := a.Load()
		if v <= old || a.CompareAndSwap(old, v) {
			return
		}
	}
}

// memory is one allocation: device memory or CPU bytes.
type memory struct {
	dev Memory
	cpu []byte
	on  Device // where dev is, for errors
}

// job is a unit of reader work, of one of three kinds:
//
//   - a chunk to stage: segs packed into a pinned buffer of the ring;
//   - a registered chunk (WithRegister): window number window of the file's
//     mapping, copied from in place; segs sit at their offsets within it;
//   - a CPU job: part, rows and columns of one piece, read straight into
//     the piece's CPU target number target.
//
// A chunk goes on from its reader to the reaper with the memory its copies
// read (src) and their events.
type job struct {
	file int
	seq  int64 // chunk number, which picks the stream
	segs []seg

	registered bool
	window     int64

	cpu    bool
	part   seg
	target int

	src    HostMemory // the staging buffer or registered window
	events []copyEvent
	times  jobTimes // for the timeline
}

// seg is a part of a piece: rows [r0, r1), columns [c0, c1) of each (in
// converted bytes), at offset off of a chunk's buffer. A chunk's seg is
// either a band of whole rows or a run of columns of one row; a CPU job's
// part may also be rows of its target's columns.
type seg struct {
	piece               int
	r0, r1, c0, c1, off int64
}

func (s *seg) len() int64 { return (s.r1 - s.r0) * (s.c1 - s.c0) }

// copyEvent marks the copies of one chunk to one device; piece and srcOff
// locate the chunk's first copy there, to name a tensor if they fail.
type copyEvent struct {
	ev     Event
	slot   int
	bytes  int64
	piece  int
	srcOff int64
}

// newJob returns a recycled job, or a new one.
func (e *loadRun) newJob() *job {
	select {
	case j := <-e.spare:
		return j
	default:
		return new(job)
	}
}

// recycle clears j, keeping its slices' memory, for a later newJob.
func (e *loadRun) recycle(j *job) {
	clear(j.events) // drop the closed events
	*j = job{segs: j.segs[:0], events: j.events[:0]}
	select {
	case e.spare <- j:
	default: // more jobs than the pipeline holds at once: let it go
	}
}

// newLoadRun opens the plan's accelerators, creates their streams and picks
// the staging ring.
func (placer *Placer) newLoadRun(p *Plan) (*loadRun, error) {
	cfg := &p.cfg
	e := &loadRun{placer: placer, p: p, cfg: cfg, cancel: func() {}, mems: make([][]memory, len(p.files)),
		windowSize: roundUp(int64(cfg.chunkSize), pageSize), windows: make(chan struct{}, cfg.chunks),
		direct: make([]*directFile, len(p.files))}
	if err := e.lease(); err != nil {
		return nil, err
	}
	if err := e.openSlots(); err != nil {
		e.closeStreams()
		e.endLeases(e.leases)
		return nil, err
	}
	e.registrar, e.registrarDev = e.pickRegistrar()
	e.fitReaders()
	e.spare = make(chan *job, cfg.chunks+2*cfg.readers)
	return e, nil
}

// lease takes a lease on the mapping of every file of the plan.
func (e *loadRun) lease() error {
	e.maps, e.leases = make([][]byte, len(e.p.files)), make([]func(), len(e.p.files))
	for i := range e.p.files {
		f := e.p.files[i].File
		m, release, err := f.Mapping()
		if err != nil {
			e.endLeases(e.leases[:i])
			return &Error{Op: "load", File: f.Name(), Err: err}
		}
		e.maps[i], e.leases[i] = m, release
	}
	return nil
}

// endLeases ends leases.
func (e *loadRun) endLeases(leases []func()) {
	for _, release := range leases {
		release()
	}
}

// openSlots opens the accelerators that the plan puts bytes on, with their
// streams, and picks the staging ring.
func (e *loadRun) openSlots() error {
	used := make([]bool, len(e.p.devices))
	for _, fp := range e.p.files {
		for _, a := range fp.Allocs {
			used[a.Device] = used[a.Device] || a.Size > 0
		}
	}
	for i, d := range e.p.devices {
		s := &slotState{dev: d, name: "cpu"}
		e.slots = append(e.slots, s)
		if d.IsCPU() || !used[i] {
			continue
		}
		if err := e.openSlot(s); err != nil {
			return err
		}
		if e.ring == nil {
			r, err := e.placer.stagingRing(e.cfg, s.ref)
			if err != nil {
				return err
			}
			e.ring = r
		}
	}
	return nil
}

// pickRegistrar returns the accelerator that page-locks mapping windows
// for WithRegister, or nil: every accelerator of the load must implement
// Registrar, since windows feed them all.
func (e *loadRun) pickRegistrar() (Registrar, string) {
	if !e.cfg.register {
		return nil, ""
	}
	var first Registrar
	var dev string
	for _, s := range e.slots {
		if s.ref == nil {
			continue
		}
		r, ok := s.ref.acc.(Registrar)
		if !ok {
			return nil, ""
		}
		if first == nil {
			first, dev = r, s.dev.String()
		}
	}
	return first, dev
}

// openSlot opens an accelerator and its streams.
func (e *loadRun) openSlot(s *slotState) error {
	ref, err := e.placer.accelerator(s.dev)
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

// errFailed is the cause with which a failure cancels the load's
// context, told apart from the caller's cancellation.
var errFailed = errors.New("load failed")

// fail records the first error and stops the load.
func (e *loadRun) fail(err error) {
	e.mu.Lock()
	if e.err == nil {
		e.err = err
	}
	e.mu.Unlock()
	e.cancel()
}

// since returns the nanoseconds since the load started, at least 1.
func (e *loadRun) since() int64 { return max(1, int64(time.Since(e.start))) }

// run executes the plan and builds the Set. The goroutines it starts
// watch a context of the caller's ctx that a failure cancels too.
func (e *loadRun) run(parent context.Context) (*Set, error) {
	ctx, cancel := context.WithCancelCause(parent)
	defer cancel(nil)
	e.cancel = func() { cancel(errFailed) }
	e.start = time.Now()
	e.startTimeline()
	stopProgress := e.startProgress()
	stopPinning := e.startPinning(ctx)
	jobs := make(chan *job, e.cfg.readers)
	flights := make(chan *job, e.cfg.chunks+e.cfg.readers)
	var feeder, readers, reaper sync.WaitGroup
	feeder.Go(func() { e.feed(ctx, jobs) })
	for i := range e.cfg.readers {
		readers.Go(func() { e.read(ctx, i, jobs, flights) })
	}
	reaper.Go(func() { e.reap(flights) })
	readers.Wait()
	close(flights)
	reaper.Wait()
	feeder.Wait()
	stopPinning()
	e.closeStreams() // waits for every copy, also after an error
	e.closeDirect()
	stopProgress()
	e.finishTimeline()
	failed := context.Cause(ctx) == errFailed
	cancel(nil)
	if err := e.result(parent, failed); err != nil {
		e.freeAll()
		e.endLeases(e.leases)
		return nil, err
	}
	if fn := e.cfg.progress; fn != nil {
		fn(e.p.bytes, e.p.bytes)
	}
	return e.buildSet(), nil
}

// result returns the load's error: the first failure if one stopped the
// load (failed), else the caller's cancellation if it stopped the load
// before every byte was placed — failures after that, a read of a file
// closed on the way out say, are its consequences.
func (e *loadRun) result(parent context.Context, failed bool) error {
	e.mu.Lock()
	err := e.err
	e.mu.Unlock()
	if !failed && e.done.Load() != e.p.bytes {
		if cerr := parent.Err(); cerr != nil {
			return &Error{Op: "load", Detail: fmt.Sprintf("stopped after %d of %d bytes", e.done.Load(), e.p.bytes), Err: cerr}
		}
	}
	if err == nil && e.done.Load() != e.p.bytes {
		return &Error{Op: "load", Detail: fmt.Sprintf("placed %d of %d bytes", e.done.Load(), e.p.bytes), Err: errors.New("internal error: incomplete load")}
	}
	return err
}

// closeStreams closes every stream, which waits for its copies.
func (e *loadRun) closeStreams() {
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
func (e *loadRun) freeAll() {
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
func (e *loadRun) startProgress() func() {
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
				fn(e.done.Load(), e.p.bytes)
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
func (e *loadRun) allocate(fi int) bool {
	fp := &e.p.files[fi]
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
					Detail: fmt.Sprintf("%d bytes for %d tensors", a.Size, countOn(fp, i)), Err: backendError(err)})
				return false
			}
			ms[i].dev, ms[i].on = m, s.dev
		}
	}
	return true
}

func countOn(fp *filePlan, alloc int) int {
	n := 0
	for _, t := range fp.Tensors {
		if int(t.Alloc) == alloc {
			n++
		}
	}
	return n
}

// reap waits for each chunk's copies, then releases its source.
func (e *loadRun) reap(flights <-chan *job) {
	lane := e.rec.lane(e.laneReaper())
	for j := range flights {
		for _, ce := range j.events {
			t0 := lane.tick()
			err := ce.ev.Wait()
			if cerr := ce.ev.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				e.fail(e.copyError(j.file, ce.slot, ce.piece, ce.srcOff, err))
				continue
			}
			e.chunkDone(j, &ce, lane.span(phaseWaitEvent, t0, j.seq, ce.bytes))
			e.slots[ce.slot].mark(e.since())
			e.done.Add(ce.bytes)
		}
		e.chunks.Add(1)
		e.release(j)
		e.recycle(j)
	}
}

// release gives back the source of a chunk whose copies have finished: a
// staging buffer to the ring, a registered window to the page cache.
func (e *loadRun) release(j *job) {
	if !j.registered {
		e.ring.put(j.src)
		return
	}
	n := int64(len(j.src.Bytes())) // before Free, after which it is nil
	if err := j.src.Free(); err != nil {
		e.fail(&Error{Op: "unregister mapping", Device: e.registrarDev, File: e.p.files[j.file].File.Name(), Err: err})
	}
	e.locked.Add(-n)
	<-e.windows
}

// copyError names the tensor and device of a failed copy.
func (e *loadRun) copyError(file, slot, piece int, srcOff int64, err error) error {
	fp := &e.p.files[file]
	return &Error{Op: "copy", Device: e.slots[slot].dev.String(), File: fp.File.Name(),
		Tensor: fp.tensorAt(piece, srcOff), Err: err}
}

// tensorAt names the tensor of piece pi whose bytes include file offset off.
func (fp *filePlan) tensorAt(pi int, off int64) string {
	p := &fp.Pieces[pi]
	name := fp.Tensors[p.First].source(fp.File).Name
	for i := range fp.Tensors[p.First : p.First+p.Count] {
		src := fp.Tensors[p.First+i].source(fp.File)
		if src.Offset() > off {
			break
		}
		name = src.Name
	}
	return name
}

// buildSet turns the placed plan into a Set. The Set keeps the plan's
// placements, not the copy work: once the caller drops the Plan
// (device.Load and Placer.Load do), that is freed.
func (e *loadRun) buildSet() *Set {
	s := &Set{files: make([]setFile, len(e.p.files)), names: e.p.names, devices: e.p.devices,
		accs: make(map[Device]*accRef)}
	elapsed := time.Since(e.start)
	st := make([]DeviceStats, len(e.slots))
	for i, sl := range e.slots {
		st[i] = DeviceStats{Device: sl.dev, Name: sl.name,
			Elapsed: time.Duration(sl.last.Load()), FirstTensor: time.Duration(sl.first.Load())}
		if st[i].Elapsed == 0 { // nothing copied: views, or empty tensors
			st[i].Elapsed = elapsed
		}
	}
	for fi := range e.p.files {
		fp := &e.p.files[fi]
		s.files[fi] = setFile{file: fp.File, tensors: fp.Tensors, mem: e.mems[fi], mapped: e.maps[fi]}
		s.n += len(fp.Tensors)
		if countTensors(fp, st) {
			s.leases = append(s.leases, e.leases[fi]) // for its views
		} else {
			e.leases[fi]()
			s.files[fi].mapped = nil
		}
		for _, a := range fp.Allocs {
			st[a.Device].Allocs++
		}
	}
	for _, sl := range e.slots {
		if sl.ref != nil {
			s.refs = append(s.refs, sl.ref.retain())
			s.accs[sl.dev] = sl.ref
		}
	}
	s.stats = Stats{Elapsed: elapsed, Copied: e.p.bytes, Tensors: s.n,
		Chunks: e.chunks.Load(), Devices: st}
	for _, d := range st {
		s.stats.Bytes += d.Bytes
	}
	if e.ring != nil {
		s.stats.PeakPinned = e.ring.pinned()
	}
	s.stats.PeakLocked = e.maxLocked.Load()
	s.stats.Direct = e.directBytes.Load()
	return s
}

// countTensors adds the tensors of one file to the devices' statistics,
// and reports whether any is a view of the file's mapping.
func countTensors(fp *filePlan, st []DeviceStats) (views bool) {
	for k := range fp.Tensors {
		pl := &fp.Tensors[k]
		st[pl.Device].Tensors++
		st[pl.Device].Bytes += pl.Len
		if pl.Alloc >= 0 { // copied: the load placed every planned byte
			st[pl.Device].Copied += pl.Len
		} else {
			views = true
		}
	}
	return views
}
