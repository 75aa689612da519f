// Package devicetest provides a simulated accelerator backend for tests of
// code that places tensors on devices, as net/http/httptest provides a
// server: no GPU, no cgo, and checks that a real driver would not make.
//
// A [Backend] keeps device memory in ordinary byte slices. Its copies
// complete asynchronously, late and out of order (each after a random
// delay up to [Options].Delay on a goroutine of its own), so that a
// staging buffer reused before its copy's event completed shows up. Each
// copy snapshots its source when enqueued and compares it when it lands,
// and checks that the source lies in live pinned or registered memory and
// the destination in live device memory. Every allocation, stream, event
// and opened device is tracked: [Backend.Check] reports what was never
// released, and [Install] runs it when the test ends. Faults can be
// injected at the Nth call of each operation ([Faults]).
//
// A test installs one under a fresh name and places tensors on its
// devices:
//
//	sim := devicetest.Install(t, devicetest.Options{GPUs: 2})
//	set, err := device.Load(ctx, device.Files(f), device.On(sim.Device(0), sim.Device(1)))
//
// An example or a program that wants the simulated backend to stand in
// for the GPU names it "cuda" and registers it itself:
//
//	defer device.Register(devicetest.New(devicetest.Options{Name: "cuda"}))()
package devicetest

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/stload/stload/device"
)

// Options configures a simulated backend. The zero value is one device of
// 1 GiB whose copies complete at once.
type Options struct {
	// Name is the backend's name, what device names start with
	// ("sim1c000012f0:0"). The default is "sim" and a number unique among
	// the Backends in use.
	Name string
	// GPUs is the number of devices (default 1).
	GPUs int
	// Memory is each device's memory in bytes (default 1 GiB).
	Memory int64
	// Delay is the longest random delay before a copy lands; 0 makes
	// copies synchronous, which benchmarks want.
	Delay time.Duration
	// PinRate, when positive, makes AllocHost take n/PinRate seconds, the
	// rate shared among the AllocHost calls running at once, as pinning
	// behaves on real hosts.
	PinRate float64
	// Reuse recycles freed device and host memory for later allocations of
	// the same size, so that benchmarks do not time page faults of fresh
	// memory. Tests should leave it off: stale bytes in reused memory could
	// hide a copy that never happened.
	Reuse bool
	// FailAt injects faults.
	FailAt Faults
}

// Faults makes the Nth call (counted from 1, over all devices) of an
// operation fail; 0 never fails. Failed allocations (Alloc, AllocHost)
// report running out of memory: their errors wrap
// [device.ErrOutOfMemory].
type Faults struct {
	Open      int // Backend.Open
	Alloc     int // Accelerator.Alloc
	AllocHost int // Accelerator.AllocHost (and AllocHostMapped)
	Register  int // RegisterReadOnly
	Stream    int // Accelerator.NewStream
	Copy      int // Stream.Copy
	Record    int // Stream.Record
	Wait      int // Event.Wait, counted by the events recorded
	Read      int // Accelerator.Read
}

// Counters are what a Backend observed, for tests to check bounds with.
type Counters struct {
	// HostAllocs counts AllocHost calls, MappedAllocs AllocHostMapped ones.
	HostAllocs, MappedAllocs int64
	// PeakPinned is the most pinned host memory (AllocHost) held at once;
	// PeakLocked the most memory page-locked in place (RegisterReadOnly).
	PeakPinned, PeakLocked int64
}

// Backend is a simulated [device.Backend]. Its devices also implement
// [device.Registrar] and the method AllocHostMapped that
// [device.Tuning].MappedHost uses. All its methods are safe for concurrent
// use.
type Backend struct {
	name  string
	count int
	total int64
	o     Options

	calls   [9]atomic.Int64 // per operation, in the order of Faults' fields
	pinning atomic.Int64    // AllocHost calls sleeping for PinRate

	mu         sync.Mutex
	free       []int64
	hosts      map[*host]bool
	mems       map[*memory]bool
	accs       map[*accelerator]bool
	streams    int
	liveEvents int
	pinned     int64
	locked     int64
	counters   Counters
	nextPtr    uintptr
	violations []string
	pool       map[int64][][]byte // Reuse: freed memory by size
}

// Operations, indexing Backend.calls.
const (
	opOpen = iota
	opAlloc
	opAllocHost
	opRegister
	opStream
	opCopy
	opRecord
	opWait
	opRead
)

// New returns a simulated backend, not registered: pass it to
// [device.Register], and call the function that returns when done.
func New(o Options) *Backend {
	o.GPUs = max(o.GPUs, 1)
	if o.Memory <= 0 {
		o.Memory = 1 << 30
	}
	b := &Backend{count: o.GPUs, total: o.Memory, o: o,
		hosts: map[*host]bool{}, mems: map[*memory]bool{}, accs: map[*accelerator]bool{},
		nextPtr: 1 << 40, pool: map[int64][][]byte{}}
	b.name = o.Name
	if b.name == "" {
		// The Backend's address: unique while it lives, with no counter
		// kept in the package.
		b.name = fmt.Sprintf("sim%x", uintptr(unsafe.Pointer(b)))
	}
	for range o.GPUs {
		b.free = append(b.free, o.Memory)
	}
	return b
}

// Install registers a new simulated backend for the test and, when the
// test ends, unregisters it and fails the test if anything was not
// released or a copy broke the rules ([Backend.Check]), unless the test
// failed already.
func Install(tb testing.TB, o Options) *Backend {
	tb.Helper()
	b := New(o)
	unregister := device.Register(b)
	tb.Cleanup(func() {
		unregister()
		if !tb.Failed() {
			if err := b.Check(); err != nil {
				tb.Error(err)
			}
		}
	})
	return b
}

// Name returns the backend's name.
func (b *Backend) Name() string { return b.name }

// Count returns the number of devices.
func (b *Backend) Count() (int, error) { return b.count, nil }

// Open opens device i.
func (b *Backend) Open(i int) (device.Accelerator, error) {
	if b.hit(opOpen) {
		return nil, fmt.Errorf("devicetest: injected fault opening device %d", i)
	}
	if i < 0 || i >= b.count {
		return nil, fmt.Errorf("devicetest: no device %d", i)
	}
	a := &accelerator{b: b, index: i}
	b.mu.Lock()
	b.accs[a] = true
	b.mu.Unlock()
	return a, nil
}

// Device returns device i of the backend ("NAME:i").
func (b *Backend) Device(i int) device.Device { return device.Device{Backend: b.name, Index: i} }

// SetFree sets the free memory that device i reports, which planning
// balances by and checks allocations against; allocations beyond it fail
// as out of memory.
func (b *Backend) SetFree(i int, n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.free[i] = n
}

// Bytes returns the bytes of device memory m, which the test may read
// and change (to play a corrupted copy, say), or nil when m is not this
// backend's live memory.
func (b *Backend) Bytes(m device.Memory) []byte {
	sm, ok := m.(*memory)
	if !ok || !b.live(sm) {
		return nil
	}
	return sm.buf
}

// Counters returns what the backend observed so far.
func (b *Backend) Counters() Counters {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.counters
}

// Check reports every rule a user of the backend broke (a staging buffer
// rewritten while its copy was in flight, a copy from memory that is not
// pinned, something freed twice...) and everything not released: opened
// devices, device and host memory, streams, events.
func (b *Backend) Check() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	var errs []error
	for _, v := range b.violations {
		errs = append(errs, errors.New("devicetest: "+v))
	}
	if len(b.accs) > 0 || len(b.mems) > 0 || len(b.hosts) > 0 || b.streams > 0 || b.pinned != 0 || b.locked != 0 || b.liveEvents != 0 {
		errs = append(errs, fmt.Errorf("devicetest: %s: leaked %d devices, %d allocations, %d pinned or registered buffers (%d bytes pinned, %d locked), %d streams, %d events",
			b.name, len(b.accs), len(b.mems), len(b.hosts), b.pinned, b.locked, b.streams, b.liveEvents))
	}
	return errors.Join(errs...)
}

// hit advances the count of operation op and reports whether this call
// is the one Options.FailAt fails.
func (b *Backend) hit(op int) bool {
	n := [...]int{b.o.FailAt.Open, b.o.FailAt.Alloc, b.o.FailAt.AllocHost, b.o.FailAt.Register,
		b.o.FailAt.Stream, b.o.FailAt.Copy, b.o.FailAt.Record, b.o.FailAt.Wait, b.o.FailAt.Read}[op]
	return b.calls[op].Add(1) == int64(n) && n > 0
}

// violate records a broken rule.
func (b *Backend) violate(format string, args ...any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.violations = append(b.violations, fmt.Sprintf(format, args...))
}

// buffer returns n bytes: fresh, or with Reuse recycled.
func (b *Backend) buffer(n int64) []byte {
	if b.o.Reuse {
		b.mu.Lock()
		if l := b.pool[n]; len(l) > 0 {
			buf := l[len(l)-1]
			b.pool[n] = l[:len(l)-1]
			b.mu.Unlock()
			return buf
		}
		b.mu.Unlock()
	}
	return make([]byte, n)
}

// recycle keeps buf for a later buffer call, with Reuse; b.mu is held.
func (b *Backend) recycle(buf []byte) {
	if b.o.Reuse {
		b.pool[int64(len(buf))] = append(b.pool[int64(len(buf))], buf)
	}
}

func (b *Backend) live(m *memory) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.mems[m]
}

// outOfMemory is the error of an allocation that fails for want of memory.
func outOfMemory(format string, args ...any) error {
	return fmt.Errorf("devicetest: %s: %w", fmt.Sprintf(format, args...), device.ErrOutOfMemory)
}
