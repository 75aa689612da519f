package device

import (
	"fmt"

	"github.com/stload/stload/dtype"
	"github.com/stload/stload/loader"
)

// fileLayout accumulates one file's plan: allocations grow as tensors are
// packed into them in file order.
type fileLayout struct {
	pl     *planner
	fp     filePlan
	allocs map[int]int // device slot → index in fp.Allocs
	mapped bool
}

// isMapped reports whether f is memory-mapped.
func isMapped(f *loader.File) bool {
	m, release, err := f.Mapping()
	release()
	return err == nil && m != nil
}

// layout places the tensors of f, each as its item says: each device's
// tensors are packed into one allocation in file order, each at a
// multiple of its element size (or of WithAlign), so that runs of
// consecutive tensors stay contiguous on the device as they are in the
// file and their copies coalesce.
func (pl *planner) layout(f *loader.File, items []item) (filePlan, error) {
	fl := &fileLayout{pl: pl, fp: filePlan{File: f, Tensors: make([]placement, 0, len(items))},
		allocs: make(map[int]int), mapped: isMapped(f)}
	for i := range items {
		it := &items[i]
		t := f.TensorAt(int(it.pos))
		var err *Error
		switch {
		case it.rule < 0:
			fl.whole(it, t)
		case pl.cfg.rules[it.rule].copies:
			fl.replicate(it, t)
		default:
			err = fl.shard(it, t)
		}
		if err != nil {
			err.File = f.Name()
			return filePlan{}, err
		}
	}
	for _, t := range fl.fp.Tensors {
		if t.Alloc >= 0 {
			pl.p.bytes += t.Len
		}
	}
	return fl.fp, nil
}

// stagedLen returns the size of n source bytes converted from from to to.
func stagedLen(n int64, from, to dtype.DType) int64 {
	if from == to {
		return n
	}
	s, _ := dtype.ConvertedSize(n, from, to) // validated by choose
	return s
}

// place reserves len bytes for a tensor of type t on device slot and
// returns the allocation and offset.
func (fl *fileLayout) place(slot int32, t dtype.DType, n int64) (int32, int64) {
	a, ok := fl.allocs[int(slot)]
	if !ok {
		a = len(fl.fp.Allocs)
		fl.allocs[int(slot)] = a
		fl.fp.Allocs = append(fl.fp.Allocs, allocation{Device: int(slot)})
	}
	align := max(int64(t.Size()), 1, fl.pl.cfg.align)
	off := roundUp(fl.fp.Allocs[a].Size, align)
	fl.fp.Allocs[a].Size = off + n
	return int32(a), off
}

// viewable reports whether a contiguous, unconverted tensor on slot can be
// a view of the file's mapping instead of a copy.
func (fl *fileLayout) viewable(slot int32, from, to dtype.DType) bool {
	return fl.mapped && from == to && !fl.pl.cfg.copyCPU && fl.pl.p.devices[slot].IsCPU()
}

// whole places an unsplit tensor, t.
func (fl *fileLayout) whole(c *item, t loader.Tensor) {
	n := stagedLen(t.End-t.Begin, t.DType, c.to)
	p := placement{Tensor: c.pos, Device: c.slot, DType: c.to, Len: n, Dim: -1, Shards: 1}
	fl.add(p, t.Offset(), t.End-t.Begin, t.DType)
}

// add records placement p of the contiguous source range [src, src+n),
// placing it and adding its copy piece.
func (fl *fileLayout) add(p placement, src, n int64, from dtype.DType) {
	if fl.viewable(p.Device, from, p.DType) {
		p.Alloc, p.Offset = -1, src
		fl.fp.Tensors = append(fl.fp.Tensors, p)
		return
	}
	p.Alloc, p.Offset = fl.place(p.Device, p.DType, p.Len)
	fl.fp.Tensors = append(fl.fp.Tensors, p)
	if p.Len == 0 {
		return
	}
	fl.addLinear(piece{SrcOff: src, SrcLen: n, From: from, To: p.DType, Rows: 1, RowLen: p.Len,
		First: len(fl.fp.Tensors) - 1, Count: 1}, dest{Alloc: int(p.Alloc), Off: p.Offset, Width: p.Len})
}

// addLinear appends a contiguous piece to one target, merging it into the
// previous piece when both ranges continue it: same allocation, same
// conversion (or none for both, whatever the dtypes), adjacent in the file
// and on the device. Merging is what keeps thousands of small tensors
// from costing thousands of copies.
func (fl *fileLayout) addLinear(p piece, t dest) {
	ps := fl.fp.Pieces
	if k := len(ps) - 1; k >= 0 {
		q := &ps[k]
		qt := q.Targets[0]
		sameConv := q.From == p.From && q.To == p.To || q.From == q.To && p.From == p.To
		if q.linear() && sameConv && qt.Alloc == t.Alloc &&
			q.SrcOff+q.SrcLen == p.SrcOff && qt.Off+q.RowLen == t.Off {
			q.SrcLen += p.SrcLen
			q.RowLen += p.RowLen
			q.Targets[0].Width += p.RowLen
			q.Count = p.First + p.Count - q.First
			return
		}
	}
	p.Targets = []dest{t}
	fl.fp.Pieces = append(fl.fp.Pieces, p)
}

// split is the geometry of a tensor split along one dimension: outer rows
// of full×inner elements, of which part k takes [start[k], start[k]+count[k]).
type split struct {
	dim                int
	outer, full, inner int64
	start, count       []int64
	fromBits, toBits   int64
}

// newSplit computes torch.tensor_split's parts of dimension dim into n.
func newSplit(t loader.Tensor, dim, n int, to dtype.DType) (*split, string) {
	rank := len(t.Shape)
	d := dim
	if d < 0 {
		d += rank
	}
	if d < 0 || d >= rank {
		return nil, fmt.Sprintf("cannot split dimension %d of a tensor of shape %v", dim, t.Shape)
	}
	if n < 1 {
		return nil, "a split needs at least one device"
	}
	s := &split{dim: d, outer: 1, inner: 1, full: int64(t.Shape[d]),
		fromBits: int64(t.DType.Bits()), toBits: int64(to.Bits())}
	for _, x := range t.Shape[:d] {
		s.outer *= int64(x)
	}
	for _, x := range t.Shape[d+1:] {
		s.inner *= int64(x)
	}
	for k := range int64(n) {
		s.start = append(s.start, partStart(s.full, int64(n), k))
		s.count = append(s.count, partSize(s.full, int64(n), k))
	}
	return s, s.checkBytes(t)
}

// checkBytes rejects a split that cuts a sub-byte element type inside a
// byte (of the part boundaries, or of the source rows when strided).
func (s *split) checkBytes(t loader.Tensor) string {
	cut := func(elems int64) bool { return elems*s.inner*s.fromBits%8 != 0 }
	if s.outer > 1 && s.outer*s.full*s.inner > 0 && cut(s.full) {
		return fmt.Sprintf("rows of %d %v elements do not end on a byte boundary", s.full*s.inner, t.DType)
	}
	for k := range s.start {
		if cut(s.start[k]) || cut(s.count[k]) {
			return fmt.Sprintf("splitting dimension %d (size %d) into %d parts cuts %v elements inside a byte (part %d: %d elements from %d)",
				s.dim, s.full, len(s.start), t.DType, k, s.count[k]*s.inner, s.start[k]*s.inner)
		}
	}
	return ""
}

// contiguous reports whether every non-empty part is one range of bytes.
func (s *split) contiguous() bool {
	if s.outer == 1 {
		return true
	}
	for _, c := range s.count {
		if c != 0 && c != s.full {
			return false
		}
	}
	return true
}

// bytes returns the size of elems elements at the given width in bits.
func bytesOf(elems, bits int64) int64 { return elems * bits / 8 }

// shard places the parts of a tensor, t, split by a Shard rule.
func (fl *fileLayout) shard(c *item, t loader.Tensor) *Error {
	slots := fl.pl.parts[c.rule]
	s, why := newSplit(t, fl.pl.cfg.rules[c.rule].dim, len(slots), c.to)
	if why != "" {
		return &Error{Op: "plan", Tensor: t.Name, Detail: why, Err: ErrPlacement}
	}
	first := len(fl.fp.Tensors)
	parts := make([]placement, len(slots))
	for k, slot := range slots {
		parts[k] = placement{Tensor: c.pos, Device: int32(slot), DType: c.to,
			Len: bytesOf(s.outer*s.count[k]*s.inner, s.toBits), Dim: int32(s.dim), Shard: int32(k), Shards: int32(len(slots))}
	}
	if s.contiguous() {
		for k, p := range parts {
			src := t.Offset() + bytesOf(s.outer*s.start[k]*s.inner, s.fromBits)
			fl.add(p, src, bytesOf(s.outer*s.count[k]*s.inner, s.fromBits), t.DType)
		}
		return nil
	}
	rowLen := bytesOf(s.full*s.inner, s.toBits)
	pc := piece{SrcOff: t.Offset(), SrcLen: t.End - t.Begin, From: t.DType, To: c.to, Rows: s.outer,
		RowLen: rowLen, First: first, Count: len(parts)}
	for k, p := range parts {
		p.Alloc, p.Offset = fl.place(p.Device, p.DType, p.Len)
		fl.fp.Tensors = append(fl.fp.Tensors, p)
		if p.Len > 0 {
			pc.Targets = append(pc.Targets, dest{Alloc: int(p.Alloc), Off: p.Offset,
				Col: bytesOf(s.start[k]*s.inner, s.toBits), Width: bytesOf(s.count[k]*s.inner, s.toBits)})
		}
	}
	if len(pc.Targets) > 0 {
		fl.fp.Pieces = append(fl.fp.Pieces, pc)
	}
	return nil
}
