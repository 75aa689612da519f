package device

import (
	"context"
	"runtime"
)

// perfConfig holds the options of this file: instruments and pipeline
// designs that benchmarks compare (bench/RESULTS.md, issue 10).
type perfConfig struct {
	timeline   *Timeline
	direct     bool // read uncached ranges with O_DIRECT
	lazyPin    bool // readers pin staging buffers as they first need them
	mappedHost bool // staging buffers from a mappedHostAllocator
	readersSet bool // WithReaders was given
	hooks      directHooks
}

func defaultPerf() perfConfig { return perfConfig{direct: true} }

// WithTimeline records the load into t: per reader, stream and chunk,
// when each waited, read, issued copies and saw them complete (see
// [Timeline]). Without it a load records nothing.
func WithTimeline(t *Timeline) Option {
	return func(c *config) { c.perf.timeline = t }
}

// Tuning selects among the designs of the loading pipeline that
// benchmarks compare (bench/RESULTS.md). The zero value is the default
// design; each field turns one alternative on.
type Tuning struct {
	// NoDirectIO reads every range of a file through the page cache. By
	// default each run of a chunk that is contiguous in the file and
	// mostly not in the page cache (mincore) is read with O_DIRECT
	// straight into its pinned staging buffer: two passes over host
	// memory instead of three, no CPU copy, no page cache filled. Cached
	// ranges, small ones (under 64 KiB), converted ones and CPU placements
	// keep the page cache path either way, and a file that cannot be read
	// with O_DIRECT (no path, a file system without it) falls back to the
	// page cache whole.
	NoDirectIO bool
	// LazyPinning makes readers pin staging buffers themselves when they
	// first need one, in parallel. By default one background goroutine
	// pins the ring's buffers one after the other from the start of the
	// load and readers take them as they come: the first buffer is ready
	// after one buffer's pinning instead of after all the readers' at
	// once, since pinning shares one rate however many threads pin.
	LazyPinning bool
	// MappedHost makes staging buffers another way where every
	// accelerator of the load has a method AllocHostMapped(n int)
	// (HostMemory, error) (the cuda backend's: anonymous huge-page memory,
	// touched, then page-locked in place); by default, and elsewhere, they
	// come from [Accelerator.AllocHost]. The memory must be portable, like
	// AllocHost's.
	MappedHost bool
}

// WithTuning selects pipeline designs other than the default ones.
func WithTuning(t Tuning) Option {
	return func(c *config) {
		c.perf.direct, c.perf.lazyPin, c.perf.mappedHost = !t.NoDirectIO, t.LazyPinning, t.MappedHost
	}
}

// mappedHostAllocator is implemented by accelerators that can page-lock
// memory they map themselves, as an alternative to AllocHost for staging
// buffers (Tuning.MappedHost).
type mappedHostAllocator interface {
	AllocHostMapped(n int) (HostMemory, error)
}

// Replicate places a whole copy of each tensor whose name matches pattern
// on every device of devs (with none, on every device of the load's
// target), as parts 0..n-1 of the tensor (Dim -1, Shards n; [Set.Shard]
// returns the copy on devs[i]). The tensor is read from the file once:
// each staged chunk of it is copied to every device from the same staging
// buffer. Rules are tried in order with [Map] and [Shard] rules.
func Replicate(pattern string, devs ...Device) Option {
	return func(c *config) {
		if c.checkPattern(pattern) {
			c.rules = append(c.rules, rule{pattern: pattern, shard: true, dim: -1, copies: true, devs: canonicalAll(devs)})
		}
	}
}

// stagingReaders is the default number of readers of a load that stages
// copies to accelerators: GOMAXPROCS less two, at most 16, at least half
// of GOMAXPROCS and at least two. Readers copying from a mapping never
// block, so with one per P the goroutines that issue copies (the cuda
// backend's, locked to its thread) and that retire them (the reaper) wait
// for a P until the Go scheduler preempts a reader, up to 10 ms later;
// meanwhile the copy engine idles or buffers stay unreturned. Two spare
// Ps keep both prompt, at the cost of two readers' reads when reading is
// the limit. At least two readers, so that on a small machine one
// reader's O_DIRECT read, which waits for storage without using a CPU,
// overlaps the other's (a cold file read almost twice as fast with two
// readers as with one on the 2-CPU VM of bench/RESULTS.md).
func stagingReaders() int {
	n := runtime.GOMAXPROCS(0)
	return min(maxReaders, max(n-2, n/2, 2))
}

// fitReaders applies the default reader count of a staging load, unless
// WithReaders chose one, and caps readers at the number of chunks.
func (e *loadRun) fitReaders() {
	if !e.cfg.perf.readersSet && e.ring != nil {
		e.cfg.readers = stagingReaders()
	}
	e.cfg.readers = max(1, min(e.cfg.readers, e.cfg.chunks))
}

// startPinning starts the goroutine that pins the ring's buffers for the
// readers, unless the load pins lazily: the first one at once, then one
// after the other while a reader waits for a buffer, up to cfg.chunks.
// Readers that pin for themselves pin in parallel, and pinning shares one
// rate however many threads pin, so the first buffer would come only when
// all the readers' first buffers do; here it comes after one buffer's
// pinning, the rest follow in turn, and a load that recycles its buffers
// fast enough pins no more. The returned function stops the goroutine
// after the buffer it is pinning and waits for it. A failure to pin fails
// the load.
func (e *loadRun) startPinning(ctx context.Context) func() {
	if e.ring == nil || e.cfg.perf.lazyPin || !e.stages() {
		return func() {}
	}
	lane := e.rec.lane(lanePinner)
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		// The first buffer is pinned at once, unless an earlier load's are free.
		for first := len(e.ring.free) == 0; first || e.waitForNeed(ctx, stop); first = false {
			t0 := lane.tick()
			ok, err := e.ring.pinAhead(e.cfg.chunks)
			if err != nil {
				e.fail(err)
			}
			if !ok || err != nil {
				return
			}
			lane.span(phasePin, t0, -1, int64(e.ring.size))
		}
	}()
	return func() {
		close(stop)
		<-done
	}
}

// waitForNeed waits until a reader waits for a buffer while fewer
// buffers exist than chunks have been cut (a load can never use more),
// and reports false if the load stops or stop is closed first.
func (e *loadRun) waitForNeed(ctx context.Context, stop <-chan struct{}) bool {
	for e.ring.waiting.Load() == 0 || e.ring.pinnedCount() >= e.cut.Load() {
		select {
		case <-e.ring.need:
		case <-stop:
			return false
		case <-ctx.Done():
			return false
		}
	}
	return true
}

// chunkCut records that the feeder has started n chunks, and wakes the
// background pinner, which pins no more buffers than chunks were cut.
func (e *loadRun) chunkCut(n int64) {
	e.cut.Store(n)
	if e.ring != nil {
		select {
		case e.ring.need <- struct{}{}:
		default:
		}
	}
}

// stages reports whether some file of the load is staged to an
// accelerator (not copied from its mapping in place, WithRegister).
func (e *loadRun) stages() bool {
	for fi := range e.p.files {
		if e.canRegister(fi) {
			continue
		}
		for _, a := range e.p.files[fi].Allocs {
			if a.Size > 0 && e.slots[a.Device].ref != nil {
				return true
			}
		}
	}
	return false
}
