package device

// replicate places a whole copy of t on the device of each of c's parts
// (Replicate). The accelerator copies share one piece with one target
// each, so the chunker stages the tensor's bytes once and every chunk is
// copied to every device from the same staging buffer: the file is read
// once, whatever the number of copies. A copy on the CPU of a mapped,
// unconverted tensor is a view of the mapping, as for a whole tensor.
func (fl *fileLayout) replicate(c *item) {
	t := c.t
	n := stagedLen(t.Len(), t.DType, c.to)
	pc := piece{SrcOff: t.Offset(), SrcLen: t.Len(), From: t.DType, To: c.to, Rows: 1, RowLen: n,
		First: len(fl.fp.Tensors), Count: len(c.parts)}
	for k, slot := range c.parts {
		p := placement{Name: t.Name, Source: t, Device: slot, DType: c.to, Shape: t.Shape, Len: n,
			Dim: -1, Shard: k, Shards: len(c.parts)}
		if fl.viewable(slot, t.DType, c.to) {
			p.Alloc, p.Offset = -1, t.Offset()
			fl.fp.Tensors = append(fl.fp.Tensors, p)
			continue
		}
		p.Alloc, p.Offset = fl.place(slot, c.to, n)
		fl.fp.Tensors = append(fl.fp.Tensors, p)
		if n > 0 {
			pc.Targets = append(pc.Targets, dest{Alloc: p.Alloc, Off: p.Offset, Width: n})
		}
	}
	if len(pc.Targets) > 0 {
		fl.fp.Pieces = append(fl.fp.Pieces, pc)
	}
}
