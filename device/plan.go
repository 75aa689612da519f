package device

import (
	"cmp"
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
// order. Make one with [Placer.Plan]; carry it out with [Placer.Execute].
// A Plan only reads its files' headers; it may be printed (String) for a
// dry run. It takes about 50 bytes per tensor placed, plus about 100 per
// copy piece where tensors cannot be coalesced; the Set a load returns
// keeps the placements and drops the rest.
type Plan struct {
	devices []Device   // the Device fields of the other types index it
	files   []filePlan // one per file, in the order given
	names   *tensorNames
	bytes   int64
	cfg     config
}

// Devices returns the devices the plan puts tensors on.
func (p *Plan) Devices() []Device { return slices.Clone(p.devices) }

// Bytes returns the number of bytes the load writes to devices and CPU
// memory (after conversion), which progress reports count up to. It
// leaves out CPU tensors that are views of the file's mapping.
func (p *Plan) Bytes() int64 { return p.bytes }

// filePlan is the part of a [Plan] for one file.
type filePlan struct {
	// File is the source.
	File *loader.File
	// Allocs lists one allocation per device that holds tensors of File.
	Allocs []allocation
	// Tensors lists every tensor or shard, in file order (the shards of a
	// tensor in shard order).
	Tensors []placement
	// Pieces is the copy work: contiguous source ranges in file order, each
	// with the places its bytes go. Consecutive tensors bound for
	// consecutive places of one allocation are coalesced into one piece.
	Pieces []piece
}

// allocation is one allocation of device memory (or CPU memory) for a file.
type allocation struct {
	// Device indexes Plan.devices.
	Device int
	// Size is the allocation's size in bytes.
	Size int64
}

// placement is where one tensor, or one shard of a tensor, goes. A header
// of 100 MB holds a million tensors, so a placement holds only numbers (48
// bytes): the tensor's name, shape and source are its file's
// (placement.source, placement.shape), and a Set keeps its plan's
// placements as they are rather than a Tensor per part.
type placement struct {
	// Offset is the byte offset within the allocation or, for a view, the
	// absolute file offset.
	Offset int64
	// Len is the number of bytes on the device.
	Len int64
	// Tensor is the tensor's position in the file ([loader.File.TensorAt]).
	Tensor uint32
	// Device indexes Plan.devices.
	Device int32
	// Alloc indexes filePlan.Allocs, or is -1 for a CPU tensor that is a
	// zero-copy view of the file's mapping.
	Alloc int32
	// Dim is the split dimension of a shard, or -1 for a whole tensor.
	Dim int32
	// Shard is the shard's index among Shards parts (0 of 1 when whole).
	Shard, Shards int32
	// DType is the element type on the device (after any conversion).
	DType dtype.DType
}

// source returns the whole tensor p places, as its file f describes it.
func (p *placement) source(f *loader.File) loader.Tensor { return f.TensorAt(int(p.Tensor)) }

// shape returns the shape of p on the device, given its source: the
// source's, with the split dimension cut to the shard's part for a shard.
// A whole tensor's is the file's own, shared.
func (p *placement) shape(src loader.Tensor) []uint64 {
	if p.Dim < 0 {
		return src.Shape
	}
	s := slices.Clone(src.Shape)
	s[p.Dim] = uint64(partSize(int64(s[p.Dim]), int64(p.Shards), int64(p.Shard)))
	return s
}

// partStart and partSize give part k of n of a dimension of size full, as
// torch.tensor_split cuts it: the first full%n parts get one element more.
func partStart(full, n, k int64) int64 { return k*(full/n) + min(k, full%n) }

func partSize(full, n, k int64) int64 {
	if k < full%n {
		return full/n + 1
	}
	return full / n
}

// placed returns the placements of the tensor at position pos of their
// file, which ts lists in file order: none when the load leaves it out.
func placed(ts []placement, pos int) []placement {
	k, _ := slices.BinarySearchFunc(ts, uint32(pos), func(p placement, pos uint32) int { return cmp.Compare(p.Tensor, pos) })
	if k == len(ts) || int(ts[k].Tensor) != pos {
		return nil
	}
	n := int(ts[k].Shards)
	return ts[k : k+n : k+n]
}

// piece is a contiguous range of a file and where its bytes go. The
// bytes, converted from From to To when they differ, form Rows rows of
// RowLen bytes (one row for a plain range). Each dest receives columns
// [Col, Col+Width) of every row, packed at Off of its allocation: a 2-D
// copy with source pitch RowLen and destination pitch Width; when Col is 0
// and Width is RowLen that is one contiguous copy.
type piece struct {
	// SrcOff and SrcLen give the range of the file, absolute offsets.
	SrcOff, SrcLen int64
	// From is the element type in the file, To on the device.
	From, To dtype.DType
	// Rows and RowLen give the geometry of the converted bytes.
	Rows, RowLen int64
	// Targets lists the destinations.
	Targets []dest
	// First and Count select the placements the piece fills, for messages.
	First, Count int
}

// dest is one destination of a [piece].
type dest struct {
	// Alloc indexes filePlan.Allocs.
	Alloc int
	// Off is the destination's offset within the allocation.
	Off int64
	// Col and Width select the bytes of each row that go there.
	Col, Width int64
}

// staged returns the piece's size after conversion: Rows × RowLen.
func (p *piece) staged() int64 { return p.Rows * p.RowLen }

// linear reports whether the piece is one contiguous copy to one place.
func (p *piece) linear() bool {
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
	per := make([]sum, len(p.devices))
	pieces := 0
	for _, fp := range p.files {
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
	fmt.Fprintf(&b, "plan: %d files, %d bytes to place, %d pieces\n", len(p.files), p.bytes, pieces)
	for i, d := range p.devices {
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
	target []int   // slots of the target devices
	parts  [][]int // per rule, the slots of a Shard or Replicate rule's parts, once it matched
	free   func(Device) (int64, error)
}

// item is one tensor of the source with what the rules decided for it.
// The decision travels with the tensor: balancing sets slot on the items
// of the tensors no rule placed, and layout places each item as it says.
// It refers to the tensor by its position in its file, to stay small.
type item struct {
	pos  uint32 // the tensor's position in its file
	slot int32  // device slot, or -1: balance across the target
	rule int32  // index of the Shard or Replicate rule in cfg.rules, or -1
	to   dtype.DType
}

// buildPlan plans loading files onto target (the devices for unmatched
// tensors) under cfg's rules. free reports a device's free memory; it is
// called for balancing and to check that allocations fit, and may be nil
// (no checks, and balancing by equal shares).
func buildPlan(files []*loader.File, target []Device, cfg *config, free func(Device) (int64, error)) (*Plan, error) {
	pl := &planner{p: &Plan{cfg: *cfg}, cfg: cfg, free: free, parts: make([][]int, len(cfg.rules))}
	for _, d := range target {
		// A device named twice is still one device: On(cpu, cpu) is the
		// CPU, not a balance across it and itself, and balancing across
		// cuda:0 twice would count its free memory twice. A Shard rule
		// with no devices splits across the target, so it gets one part
		// per distinct device too. (A Shard rule's own device list is kept
		// as given: it says how many parts to make.)
		if s := pl.slot(d); !slices.Contains(pl.target, s) {
			pl.target = append(pl.target, s)
		}
	}
	items, err := pl.decide(files)
	if err != nil {
		return nil, err
	}
	if err := pl.balance(files, items); err != nil {
		return nil, err
	}
	pl.p.files = make([]filePlan, 0, len(files))
	for i, f := range files {
		fp, err := pl.layout(f, items[i])
		if err != nil {
			return nil, err
		}
		items[i] = nil // done with: a plan of many tensors is large
		pl.p.files = append(pl.p.files, fp)
	}
	if err := pl.checkFit(); err != nil {
		return nil, err
	}
	return pl.p, nil
}

// slot returns d's index in p.devices, adding it when new.
func (pl *planner) slot(d Device) int {
	d = d.canonical()
	for i, x := range pl.p.devices {
		if x == d {
			return i
		}
	}
	pl.p.devices = append(pl.p.devices, d)
	return len(pl.p.devices) - 1
}

// decide goes once over every tensor of every file: it checks that no
// name is given twice, keeps the tensors the load selects ([Only],
// [Select]) and applies the rules to them. It returns the items of each
// file, in file order.
func (pl *planner) decide(files []*loader.File) ([][]item, error) {
	names, d := indexNames(files)
	if d != nil {
		return nil, &Error{Op: "plan", File: files[d.second].Name(), Tensor: d.name,
			Detail: fmt.Sprintf("also in %s", files[d.first].Name()), Err: ErrPlacement}
	}
	pl.p.names = names
	out := make([][]item, len(files))
	for i, f := range files {
		if pl.cfg.selectsAll() {
			out[i] = make([]item, 0, f.Len())
		}
		for pos := range f.Len() {
			t := f.TensorAt(pos)
			if !pl.cfg.selects(t.Name) {
				continue
			}
			c, err := pl.choose(t, pos)
			if err != nil {
				err.File = f.Name()
				return nil, err
			}
			out[i] = append(out[i], c)
		}
	}
	return out, pl.cfg.checkOnly(names)
}

// choose finds the first rule matching t, at position pos of its file.
func (pl *planner) choose(t loader.Tensor, pos int) (item, *Error) {
	c := item{pos: uint32(pos), slot: -1, rule: -1, to: t.DType}
	if to := pl.cfg.to; to.Valid() && t.DType.Float() && t.DType != dtype.C64 && t.DType != to {
		if _, err := dtype.ConvertedSize(t.End-t.Begin, t.DType, to); err != nil {
			return c, &Error{Op: "plan", Tensor: t.Name, Detail: fmt.Sprintf("%v to %v", t.DType, to), Err: err}
		}
		c.to = to
	}
	if len(pl.target) == 1 {
		c.slot = int32(pl.target[0])
	}
	for i := range pl.cfg.rules {
		r := &pl.cfg.rules[i]
		if ok, _ := path.Match(r.pattern, t.Name); !ok {
			continue
		}
		if !r.shard {
			c.slot = int32(pl.slot(r.devs[0]))
			return c, nil
		}
		c.rule = int32(i)
		if pl.parts[i] == nil {
			pl.parts[i] = pl.ruleParts(r)
		}
		return c, nil
	}
	return c, nil
}

// ruleParts returns the slots of the parts of a Shard or Replicate rule:
// its devices, or the target's.
func (pl *planner) ruleParts(r *rule) []int {
	if len(r.devs) == 0 {
		return pl.target
	}
	parts := make([]int, len(r.devs))
	for k, d := range r.devs {
		parts[k] = pl.slot(d)
	}
	return parts
}

// checkFit checks that each accelerator's allocations fit its free memory.
func (pl *planner) checkFit() error {
	if pl.free == nil {
		return nil
	}
	need := make([]int64, len(pl.p.devices))
	for _, fp := range pl.p.files {
		for _, a := range fp.Allocs {
			need[a.Device] += a.Size
		}
	}
	for i, d := range pl.p.devices {
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
