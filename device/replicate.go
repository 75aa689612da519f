package device

import "github.com/stload/stload/loader"

// replicate places a whole copy of t on the device of each of c's parts
// (Replicate). The accelerator copies share one piece with one target
// each, so the chunker stages the tensor's bytes once and every chunk is
// copied to every device from the same staging buffer: the file is read
// once, whatever the number of copies. A copy on the CPU of a mapped,
// unconverted tensor is a view of the mapping, as for a whole tensor.
func (fl *fileLayout) replicate(c *item, t loader.Tensor) {
	slots := fl.pl.parts[c.rule]
	n := stagedLen(t.End-t.Begin, t.DType, c.to)
	pc := piece{SrcOff: t.Offset(), SrcLen: t.End - t.Begin, From: t.DType, To: c.to, Rows: 1, RowLen: n,
		First: len(fl.fp.Tensors), Count: len(slots)}
	for k, slot := range slots {
		p := placement{Tensor: c.pos, Device: int32(slot), DType: c.to, Len: n,
			Dim: -1, Shard: int32(k), Shards: int32(len(slots))}
		if fl.viewable(p.Device, t.DType, c.to) {
			p.Alloc, p.Offset = -1, t.Offset()
			fl.fp.Tensors = append(fl.fp.Tensors, p)
			continue
		}
		p.Alloc, p.Offset = fl.place(p.Device, c.to, n)
		fl.fp.Tensors = append(fl.fp.Tensors, p)
		if n > 0 {
			pc.Targets = append(pc.Targets, dest{Alloc: int(p.Alloc), Off: p.Offset, Width: n})
		}
	}
	if len(pc.Targets) > 0 {
		fl.fp.Pieces = append(fl.fp.Pieces, pc)
	}
}
