package device

import (
	"errors"
	"iter"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/stload/stload/dtype"
	"github.com/stload/stload/loader"
)

// Tensor is one loaded tensor, or one shard of a tensor split by a
// [Shard] rule. It is a view into its device's allocation for the file;
// it stays valid until its [Set] is closed, also a CPU view of a
// memory-mapped file: the Set holds a lease on the mapping
// ([loader.File.Mapping]) until then, even if the file is closed first.
type Tensor struct {
	// Name is the tensor's name in the file.
	Name string
	// Device is where the bytes are.
	Device Device
	// DType is the element type on the device (after any conversion).
	DType dtype.DType
	// Shape is the shape on the device: the shard's for a shard.
	Shape []uint64
	// Dim is the dimension a shard was split along, or -1.
	Dim int
	// Shard is the shard's index among Shards parts (0 of 1 when whole).
	Shard, Shards int
	// Memory is the device allocation that holds the tensor among others of
	// its file, or nil on the CPU.
	Memory Memory
	// Offset is the tensor's byte offset within Memory.
	Offset int64
	// Len is the tensor's size in bytes.
	Len int64
	// Source describes the whole tensor in the file.
	Source loader.Tensor

	data []byte // CPU bytes
	file *loader.File
}

// Ptr returns the address of the tensor's first byte: a device address
// for an accelerator, a host address on the CPU (0 when empty).
func (t *Tensor) Ptr() uintptr {
	if t.Memory != nil {
		return t.Memory.Ptr() + uintptr(t.Offset)
	}
	if len(t.data) == 0 {
		return 0
	}
	return uintptr(unsafe.Pointer(unsafe.SliceData(t.data)))
}

// Bytes returns the bytes of a CPU tensor, or nil for one on an
// accelerator. The bytes of a view of a memory-mapped file are read-only:
// writing to them crashes the program.
func (t *Tensor) Bytes() []byte { return t.data }

// Set is the result of a load: the tensors by name, the device memory that
// holds them, and statistics. Close frees the device memory.
//
// A Set keeps its tensors in the compact form of its plan, 48 bytes
// each, with their names, shapes and sources in their files' tables, so
// that a load of a header of a million tensors costs little beyond the
// open files: [Set.Tensor], [Set.Parts] and [Set.All] make a new [Tensor]
// each time they return one, which describes the same memory as every
// other Tensor for that part.
type Set struct {
	files   []setFile // one per file of the source, in plan order
	names   *tensorNames
	devices []Device // placement.Device indexes it
	n       int      // tensors and shards
	refs    []*accRef
	leases  []func() // on the mappings that CPU views point into
	accs    map[Device]*accRef
	stats   Stats
	closed  atomic.Bool
	closeMu sync.Mutex
}

// setFile is the part of a Set loaded from one file: the plan's
// placements, and the memory they point into.
type setFile struct {
	file    *loader.File
	tensors []placement // file order, the parts of a tensor in shard order
	mem     []memory    // per allocation of the plan
	mapped  []byte      // the file's mapping, for views; nil when none
}

// Tensor returns the named tensor when it was loaded whole.
func (s *Set) Tensor(name string) (*Tensor, bool) {
	sf, ps := s.lookup(name)
	if len(ps) != 1 {
		return nil, false
	}
	return s.part(sf, &ps[0]), true
}

// Shard returns shard i of the named tensor (shard 0 of a whole tensor is
// the tensor).
func (s *Set) Shard(name string, i int) (*Tensor, bool) {
	sf, ps := s.lookup(name)
	if i < 0 || i >= len(ps) {
		return nil, false
	}
	return s.part(sf, &ps[i]), true
}

// Parts returns every part of the named tensor in shard order: one for a
// whole tensor, none for an unknown name. The slice is the caller's.
func (s *Set) Parts(name string) []*Tensor {
	sf, ps := s.lookup(name)
	if len(ps) == 0 {
		return nil
	}
	out := make([]*Tensor, len(ps))
	for k := range ps {
		out[k] = s.part(sf, &ps[k])
	}
	return out
}

// lookup returns the placements of the named tensor, and their file.
func (s *Set) lookup(name string) (*setFile, []placement) {
	fi, pos, ok := s.names.find(name)
	if !ok {
		return nil, nil
	}
	sf := &s.files[fi]
	return sf, placed(sf.tensors, pos)
}

// part makes the Tensor of placement p of file sf.
func (s *Set) part(sf *setFile, p *placement) *Tensor {
	src := p.source(sf.file)
	t := &Tensor{Name: src.Name, Device: s.devices[p.Device], DType: p.DType, Shape: p.shape(src),
		Dim: int(p.Dim), Shard: int(p.Shard), Shards: int(p.Shards), Offset: p.Offset, Len: p.Len,
		Source: src, file: sf.file}
	switch {
	case p.Alloc < 0:
		t.data = sf.mapped[p.Offset : p.Offset+p.Len : p.Offset+p.Len]
	case sf.mem[p.Alloc].dev != nil:
		t.Memory = sf.mem[p.Alloc].dev
	default:
		t.data = sf.mem[p.Alloc].cpu[p.Offset : p.Offset+p.Len : p.Offset+p.Len]
	}
	return t
}

// All iterates over every tensor and shard, in file order.
func (s *Set) All() iter.Seq[*Tensor] {
	return func(yield func(*Tensor) bool) {
		for fi := range s.files {
			sf := &s.files[fi]
			for k := range sf.tensors {
				if !yield(s.part(sf, &sf.tensors[k])) {
					return
				}
			}
		}
	}
}

// Len returns the number of tensors and shards.
func (s *Set) Len() int { return s.n }

// Stats returns the load's statistics.
func (s *Set) Stats() Stats { return s.stats }

// Close frees the device memory of every tensor and releases the devices.
// Tensors must not be used afterwards. Close is idempotent.
func (s *Set) Close() error {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	if s.closed.Swap(true) {
		return nil
	}
	var errs []error
	for _, sf := range s.files {
		for _, m := range sf.mem {
			if m.dev == nil {
				continue
			}
			if err := m.dev.Free(); err != nil {
				errs = append(errs, &Error{Op: "free", Device: m.on.String(), File: sf.file.Name(), Err: err})
			}
		}
	}
	for _, r := range s.refs {
		errs = append(errs, r.release())
	}
	for _, release := range s.leases {
		release()
	}
	s.refs, s.leases = nil, nil
	return errors.Join(errs...)
}

// Stats describes a load.
type Stats struct {
	// Elapsed is the time from the start of the load (after planning) to
	// the last byte placed, including allocation.
	Elapsed time.Duration
	// Bytes is the size of all loaded tensors, on every device.
	Bytes int64
	// Copied is the number of bytes the pipeline wrote (Bytes less CPU
	// views of the file).
	Copied int64
	// Tensors counts tensors and shards.
	Tensors int
	// Chunks counts the staging buffers filled and copied from (with
	// [WithRegister], the windows of the mapping copied from in place).
	Chunks int64
	// PeakPinned is the pinned host memory held for staging at the end of
	// the load: the most it held, as the ring only grows up to its cap.
	PeakPinned int64
	// PeakLocked is the most file-mapping memory page-locked at once by
	// [WithRegister] (page cache locked in place, not allocated).
	PeakLocked int64
	// Direct is the bytes read with O_DIRECT, straight from storage into
	// staging buffers, because they were not in the page cache (see
	// [Tuning]).
	Direct int64
	// Devices holds per-device figures, in plan order.
	Devices []DeviceStats
}

// GBps returns Copied bytes per second of Elapsed, in GB (1e9 bytes) per
// second: zero-copy views cost nothing and do not count.
func (s Stats) GBps() float64 { return gbps(s.Copied, s.Elapsed) }

// DeviceStats describes the part of a load that went to one device.
type DeviceStats struct {
	// Device is the device.
	Device Device
	// Name describes the device ("NVIDIA H100 80GB HBM3", "cpu").
	Name string
	// Tensors counts tensors and shards placed there.
	Tensors int
	// Bytes is their size.
	Bytes int64
	// Copied is the number of bytes the load wrote to the device: Bytes
	// less the CPU tensors that are views of the file's mapping, which
	// cost no copy. It is 0 on a CPU that holds only views.
	Copied int64
	// Allocs counts the allocations made there (one per file).
	Allocs int
	// Elapsed is the time from the start of the load until the device's
	// last copy completed.
	Elapsed time.Duration
	// FirstTensor is the time from the start until the first chunk of
	// copies to the device completed: when the first tensors are usable.
	FirstTensor time.Duration
}

// GBps returns Copied per second of Elapsed, in GB (1e9 bytes) per second:
// the rate at which the load wrote to the device, 0 when it wrote nothing
// (views are not a transfer, and counting them would make the rate a
// measure of nothing).
func (d DeviceStats) GBps() float64 { return gbps(d.Copied, d.Elapsed) }

func gbps(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds() / 1e9
}

// accRef counts the users of an opened Accelerator (a Placer, its staging
// ring, each Set with memory on it) and closes it after the last.
type accRef struct {
	acc Accelerator
	dev Device
	n   atomic.Int64
}

func (r *accRef) retain() *accRef {
	r.n.Add(1)
	return r
}

func (r *accRef) release() error {
	if r.n.Add(-1) == 0 {
		if err := r.acc.Close(); err != nil {
			return &Error{Op: "close", Device: r.dev.String(), Err: err}
		}
	}
	return nil
}

// alignedBytes returns n bytes of zeroed host memory aligned to 8, so
// typed views of any element type are aligned.
func alignedBytes(n int64) []byte {
	if n == 0 {
		return nil
	}
	w := make([]uint64, (n+7)/8)
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(w))), n)
}
