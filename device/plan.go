package device

import (
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/stload/stload/dtype"
	"github.com/stload/stload/loader"
)

// Plan is what a load will do, computed before any memory is allocated or
// byte copied: per file, one allocation per device, where each tensor (or
// shard of one) sits in it, and the copy work as source ranges in file
// order. Build one with [Loader.Plan]; carry it out with [Loader.Execute].
// A Plan only reads its files' headers; it is inspectable and may be
// printed (String) for a dry run.
type Plan struct {
	// Devices lists the devices the plan uses; the Device fields of the
	// other types index it.
	Devices []Device
	// Files holds one entry per file, in the order given.
	Files []FilePlan
	// Bytes is the number of bytes the load writes to devices and CPU
	// memory (after conversion), which progress reports count up to. It
	// leaves out CPU tensors that are views of the file's mapping.
	Bytes int64

	cfg config
}

// FilePlan is the part of a [Plan] for one file.
type FilePlan struct {
	// File is the source.
	File *loader.File
	// Allocs lists one allocation per device that holds tensors of File.
	Allocs []Alloc
	// Tensors lists every tensor or shard, in file order (the shards of a
	// tensor in shard order).
	Tensors []Placement
	// Pieces is the copy work: contiguous source ranges in file order, each
	// with the places its bytes go. Consecutive tensors bound for
	// consecutive places of one allocation are coalesced into one piece.
	Pieces []Piece
}

// Alloc is one allocation of device memory (or CPU memory) for a file.
type Alloc struct {
	// Device indexes [Plan.Devices].
	Device int
	// Size is the allocation's size in bytes.
	Size int64
}

// Placement is where one tensor, or one shard of a tensor, goes.
type Placement struct {
	// Name is the tensor's name in the file.
	Name string
	// Source describes the whole tensor in the file.
	Source loader.Tensor
	// Device indexes [Plan.Devices].
	Device int
	// Alloc indexes [FilePlan.Allocs], or is -1 for a CPU tensor that is a
	// zero-copy view of the file's mapping.
	Alloc int
	// Offset is the byte offset within the allocation or, for a view, the
	// absolute file offset.
	Offset int64
	// Len is the number of bytes on the device.
	Len int64
	// DType is the element type on the device (after any conversion).
	DType dtype.DType
	// Shape is the shape on the device: the shard's for a shard.
	Shape []uint64
	// Dim is the split dimension of a shard, or -1 for a whole tensor.
	Dim int
	// Shard is the shard's index among Shards parts (0 of 1 when whole).
	Shard, Shards int
}

// Piece is a contiguous range of a file and where its bytes go. The
// bytes, converted from From to To when they differ, form Rows rows of
// RowLen bytes (one row for a plain range). Each Target receives columns
// [Col, Col+Width) of every row, packed at Off of its allocation: a 2-D
// copy with source pitch RowLen and destination pitch Width; when Col is 0
// and Width is RowLen that is one contiguous copy.
type Piece struct {
	// SrcOff and SrcLen give the range of the file, absolute offsets.
	SrcOff, SrcLen int64
	// From is the element type in the file, To on the device.
	From, To dtype.DType
	// Rows and RowLen give the geometry of the converted bytes.
	Rows, RowLen int64
	// Targets lists the destinations.
	Targets []Target
	// First and Count select the placements the piece fills, for messages.
	First, Count int
}

// Target is one destination of a [Piece].
type Target struct {
	// Alloc indexes [FilePlan.Allocs].
	Alloc int
	// Off is the destination's offset within the allocation.
	Off int64
	// Col and Width select the bytes of each row that go there.
	Col, Width int64
}

// Staged returns the piece's size after conversion: Rows × RowLen.
func (p *Piece) Staged() int64 { return p.Rows * p.RowLen }

// linear reports whether the piece is one contiguous copy to one place.
func (p *Piece) linear() bool {
	return len(p.Targets) == 1 && p.Targets[0].Col == 0 && p.Targets[0].Width == p.RowLen
}

// String summarises the plan: per device its allocations, tensors and
// bytes, and per file the number of pieces (copies before chunking).
func (p *Plan) String() string {
	var b strings.Builder
	type sum struct {
		allocs, tensors, views int
		bytes                  int64
	}
	per := make([]sum, len(p.Devices))
	pieces := 0
	for _, fp := range p.Files {
		for _, a := range fp.Allocs {
			per[a.Device].allocs++
			per[a.Device].bytes += a.Size
		}
		for _, t := range fp.Tensors {
			per[t.Device].tensors++
			if t.Alloc < 0 {
				per[t.Device].views++
			}
		}
		pieces += len(fp.Pieces)
	}
	fmt.Fprintf(&b, "plan: %d files, %d bytes to place, %d pieces\n", len(p.Files), p.Bytes, pieces)
	for i, d := range p.Devices {
		s := per[i]
		fmt.Fprintf(&b, "  %s: %d tensors, %d allocations, %d bytes", d, s.tensors, s.allocs, s.bytes)
		if s.views > 0 {
			fmt.Fprintf(&b, ", %d views of the file", s.views)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// planner builds a Plan.
type planner struct {
	p      *Plan
	cfg    *config
	target []int // slots of the target devices
	free   func(Device) (int64, error)
}

// choice is what the rules decided for one tensor.
type choice struct {
	slot  int   // device slot, or -1: balance across the target
	rule  *rule // the Shard rule, or nil
	parts []int // slots of a Shard rule's parts
	to    dtype.DType
}

// buildPlan plans loading files onto target (the devices for unmatched
// tensors) under cfg's rules. free reports a device's free memory; it is
// called for balancing and to check that allocations fit, and may be nil
// (no checks, and balancing by equal shares).
func buildPlan(files []*loader.File, target []Device, cfg *config, free func(Device) (int64, error)) (*Plan, error) {
	pl := &planner{p: &Plan{cfg: *cfg}, cfg: cfg, free: free}
	for _, d := range target {
		// A device named twice is still one device: To(cpu, cpu) is the
		// CPU, not a balance across it and itself, and balancing across
		// cuda:0 twice would count its free memory twice. A Shard rule
		// with no devices splits across the target, so it gets one part
		// per distinct device too. (A Shard rule's own device list is kept
		// as given: it says how many parts to make.)
		if s := pl.slot(d); !slices.Contains(pl.target, s) {
			pl.target = append(pl.target, s)
		}
	}
	choices, err := pl.decide(files)
	if err != nil {
		return nil, err
	}
	if err := pl.balance(files, choices); err != nil {
		return nil, err
	}
	for i, f := range files {
		fp, err := pl.layout(f, choices[i])
		if err != nil {
			return nil, err
		}
		pl.p.Files = append(pl.p.Files, fp)
	}
	if err := pl.checkFit(); err != nil {
		return nil, err
	}
	return pl.p, nil
}

// slot returns d's index in p.Devices, adding it when new.
func (pl *planner) slot(d Device) int {
	d = d.canonical()
	for i, x := range pl.p.Devices {
		if x == d {
			return i
		}
	}
	pl.p.Devices = append(pl.p.Devices, d)
	return len(pl.p.Devices) - 1
}

// decide applies the rules to every tensor of every file.
func (pl *planner) decide(files []*loader.File) ([][]choice, error) {
	counts := make([]int, len(files))
	n := 0
	for i, f := range files {
		for range f.Tensors() {
			counts[i]++
		}
		n += counts[i]
	}
	owner := make(map[string]string, n)
	out := make([][]choice, len(files))
	for i, f := range files {
		out[i] = make([]choice, 0, counts[i])
		for name, t := range f.Tensors() {
			if prev, dup := owner[name]; dup {
				return nil, &Error{Op: "plan", File: f.Name(), Tensor: name,
					Detail: fmt.Sprintf("also in %s", prev), Err: ErrPlacement}
			}
			owner[name] = f.Name()
			c, err := pl.choose(t)
			if err != nil {
				err.File = f.Name()
				return nil, err
			}
			out[i] = append(out[i], c)
		}
	}
	return out, nil
}

// choose finds the first rule matching t.
func (pl *planner) choose(t loader.Tensor) (choice, *Error) {
	c := choice{slot: -1, to: t.DType}
	if to := pl.cfg.to; to.Valid() && t.DType.Float() && t.DType != dtype.C64 && t.DType != to {
		if _, err := dtype.ConvertedSize(t.Len(), t.DType, to); err != nil {
			return c, &Error{Op: "plan", Tensor: t.Name, Detail: fmt.Sprintf("%v to %v", t.DType, to), Err: fmt.Errorf("%w: %w", ErrConvert, err)}
		}
		c.to = to
	}
	if len(pl.target) == 1 {
		c.slot = pl.target[0]
	}
	for i := range pl.cfg.rules {
		r := &pl.cfg.rules[i]
		if ok, _ := path.Match(r.pattern, t.Name); !ok {
			continue
		}
		if !r.shard {
			c.slot = pl.slot(r.devs[0])
			return c, nil
		}
		c.rule = r
		if len(r.devs) == 0 {
			c.parts = pl.target
		} else {
			for _, d := range r.devs {
				c.parts = append(c.parts, pl.slot(d))
			}
		}
		return c, nil
	}
	return c, nil
}

// checkFit checks that each accelerator's allocations fit its free memory.
func (pl *planner) checkFit() error {
	if pl.free == nil {
		return nil
	}
	need := make([]int64, len(pl.p.Devices))
	for _, fp := range pl.p.Files {
		for _, a := range fp.Allocs {
			need[a.Device] += a.Size
		}
	}
	for i, d := range pl.p.Devices {
		if d.IsCPU() || need[i] == 0 {
			continue
		}
		free, err := pl.free(d)
		if err != nil {
			return err
		}
		if need[i] > free {
			return &Error{Op: "plan", Device: d.String(),
				Detail: fmt.Sprintf("the placement needs %d bytes, %d are free", need[i], free), Err: ErrOutOfMemory}
		}
	}
	return nil
}
