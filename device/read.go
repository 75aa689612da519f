package device

import (
	"fmt"
	"io"
	"unsafe"

	"github.com/stload/stload/dtype"
	"github.com/stload/stload/loader"
)

// scratchSize bounds the unpinned buffer a reader converts through when
// the file is read with pread rather than mapped.
const scratchSize = 1 << 20

// reader is one reader goroutine's state.
type reader struct {
	e       *exec
	scratch []byte // pread + conversion only, allocated on first use
}

// span is a run of unconverted bytes to read in one call: n bytes of the
// file at off into the buffer at at.
type span struct {
	at, off, n int64
	piece      int
}

// read runs jobs until there are no more or the load stops.
func (e *exec) read(jobs <-chan *job, flights chan<- *flight) {
	r := &reader{e: e}
	for {
		select {
		case <-e.ctx.Done():
			return
		case j, ok := <-jobs:
			if !ok || e.ctx.Err() != nil {
				return
			}
			var err error
			if j.direct {
				err = r.direct(j)
			} else {
				err = r.stage(j, flights)
			}
			if err != nil {
				e.fail(err)
				return
			}
		}
	}
}

// stage fills a staging buffer with a chunk and enqueues its copies. The
// buffer always goes to the reaper, which recycles it once every copy
// enqueued from it has finished.
func (r *reader) stage(j *job, flights chan<- *flight) error {
	if j.mapped {
		return r.stageMapped(j, flights)
	}
	buf, err := r.e.ring.get(r.e.ctx)
	if err != nil {
		if r.e.ctx.Err() != nil {
			return nil // stopped; the load reports why
		}
		return err
	}
	fl := &flight{buf: buf, file: j.file}
	err = r.fillChunk(j, buf.Bytes())
	if err == nil {
		err = r.dispatch(j, fl, buf.Bytes())
	}
	flights <- fl // never blocks: room for every buffer
	return err
}

// stageMapped page-locks the job's window of the file's mapping and
// enqueues its copies straight from it; the reaper unlocks the window once
// they have finished. At most chunks windows are locked at a time.
func (r *reader) stageMapped(j *job, flights chan<- *flight) error {
	e := r.e
	select {
	case e.windows <- struct{}{}:
	case <-e.ctx.Done():
		return nil // stopped; the load reports why
	}
	fp := &e.p.Files[j.file]
	b, off := windowOf(fp.File.Mapped(), j.window, int64(e.cfg.chunkSize))
	h, err := e.registrar.RegisterReadOnly(b)
	if err != nil {
		<-e.windows
		return &Error{Op: "register mapping", File: fp.File.Name(),
			Detail: fmt.Sprintf("%d bytes at byte %d", len(b), off), Err: err}
	}
	locked := e.locked.Add(int64(len(b)))
	for m := e.maxLocked.Load(); locked > m && !e.maxLocked.CompareAndSwap(m, locked); m = e.maxLocked.Load() {
	}
	fl := &flight{buf: h, file: j.file, mapped: true}
	err = r.dispatch(j, fl, h.Bytes())
	flights <- fl // never blocks: room for every window
	return err
}

// windowOf returns window win of a mapping cut into windows of size bytes
// rounded up to whole pages, and its offset in the file. The last window
// runs to the end of the last page, which the mapping covers even past the
// end of the file.
func windowOf(m []byte, win, size int64) ([]byte, int64) {
	size = (size + pageSize - 1) / pageSize * pageSize
	whole := (int64(len(m)) + pageSize - 1) / pageSize * pageSize
	all := unsafe.Slice(unsafe.SliceData(m), whole)
	return all[win*size : min((win+1)*size, whole)], win * size
}

// srcOf returns the file offset of seg s of piece p and the number of
// source bytes it covers.
func srcOf(p *Piece, s *seg) (int64, int64) {
	row := p.SrcLen / p.Rows
	off := p.SrcOff + s.r0*row + srcBytes(p, s.c0)
	if s.c0 == 0 && s.c1 == p.RowLen {
		return off, (s.r1 - s.r0) * row
	}
	return off, srcBytes(p, s.c1-s.c0)
}

// srcBytes converts a length in converted bytes to source bytes.
func srcBytes(p *Piece, n int64) int64 {
	if p.From == p.To {
		return n
	}
	return n * int64(p.From.Bits()) / int64(p.To.Bits())
}

// fillChunk reads (and converts) every segment of a chunk into buf.
// Unconverted segments that follow each other both in the file and in the
// buffer are read with one call.
func (r *reader) fillChunk(j *job, buf []byte) error {
	fp := &r.e.p.Files[j.file]
	var sp span // unconverted bytes gathered for one read
	flush := func() error {
		if sp.n == 0 {
			return nil
		}
		err := readFull(fp.File, buf[sp.at:sp.at+sp.n], sp.off)
		if err != nil {
			err = r.readError(fp, sp.piece, sp.off, err)
		}
		sp = span{}
		return err
	}
	for i := range j.segs {
		s := &j.segs[i]
		p := &fp.Pieces[s.piece]
		off, n := srcOf(p, s)
		if p.From == p.To {
			if sp.n > 0 && sp.off+sp.n == off && sp.at+sp.n == s.off {
				sp.n += n
				continue
			}
			if err := flush(); err != nil {
				return err
			}
			sp = span{at: s.off, off: off, n: n, piece: s.piece}
			continue
		}
		if err := flush(); err != nil {
			return err
		}
		if err := r.convert(fp.File, buf[s.off:s.off+s.len()], off, n, p.From, p.To); err != nil {
			return r.readError(fp, s.piece, off, err)
		}
	}
	return flush()
}

func readFull(f *loader.File, dst []byte, off int64) error {
	n, err := f.ReadAt(dst, off)
	if n == len(dst) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// convert reads n source bytes at off and writes them converted to dst:
// straight from the mapping when the file is mapped, else through the
// reader's scratch buffer in whole element groups.
func (r *reader) convert(f *loader.File, dst []byte, off, n int64, from, to dtype.DType) error {
	if m := f.Mapped(); m != nil {
		_, err := dtype.Convert(dst, to, m[off:off+n], from)
		return err
	}
	unit := stagedUnit(from, to) * int64(from.Bits()) / int64(to.Bits()) // source bytes per group
	if r.scratch == nil {
		r.scratch = make([]byte, scratchSize)
	}
	step := int64(len(r.scratch)) / unit * unit
	for n > 0 {
		k := min(n, step)
		if err := readFull(f, r.scratch[:k], off); err != nil {
			return err
		}
		w, err := dtype.Convert(dst, to, r.scratch[:k], from)
		if err != nil {
			return err
		}
		dst, off, n = dst[w:], off+k, n-k
	}
	return nil
}

// readError names the tensor whose bytes could not be read.
func (r *reader) readError(fp *FilePlan, piece int, off int64, err error) error {
	return &Error{Op: "read", File: fp.File.Name(), Tensor: fp.tensorAt(piece, off),
		Detail: fmt.Sprintf("at byte %d", off), Err: err}
}

// dispatch enqueues the copies of a filled chunk, device by device, each
// device's on one of its streams followed by one event.
func (r *reader) dispatch(j *job, fl *flight, buf []byte) error {
	e := r.e
	fp := &e.p.Files[j.file]
	for slot, st := range e.slots {
		if st.ref == nil {
			continue
		}
		stream := st.streams[j.seq%int64(len(st.streams))]
		fe := flightEvent{slot: slot, piece: -1}
		for i := range j.segs {
			s := &j.segs[i]
			p := &fp.Pieces[s.piece]
			for _, t := range p.Targets {
				if fp.Allocs[t.Alloc].Device != slot {
					continue
				}
				c, ok := copyFor(p, s, t, e.mems[j.file][t.Alloc].dev, buf)
				if !ok {
					continue
				}
				if fe.piece < 0 {
					fe.piece = s.piece
					fe.srcOff, _ = srcOf(p, s)
				}
				if err := stream.Copy(c); err != nil {
					off, _ := srcOf(p, s)
					if fe.bytes > 0 {
						stream.Sync() // no event covers the copies already enqueued
					}
					return e.copyError(j.file, slot, s.piece, off, err)
				}
				fe.bytes += c.Width * c.Height
			}
		}
		if fe.piece < 0 {
			continue
		}
		ev, err := stream.Record()
		if err != nil {
			stream.Sync()
			return e.copyError(j.file, slot, fe.piece, fe.srcOff, fmt.Errorf("record event: %w", err))
		}
		fe.ev = ev
		fl.events = append(fl.events, fe)
	}
	return nil
}

// copyFor returns the copy of seg s's part of target t: one contiguous
// copy for a single row or for whole rows, else a 2-D copy of the target's
// columns with the chunk's rows as source pitch.
func copyFor(p *Piece, s *seg, t Target, mem Memory, buf []byte) (Copy, bool) {
	x, y := max(s.c0, t.Col), min(s.c1, t.Col+t.Width)
	if x >= y {
		return Copy{}, false
	}
	h := s.r1 - s.r0
	src := s.off + x - s.c0
	n := (h-1)*p.RowLen + (y - x)
	c := Copy{Dst: mem, DstOff: t.Off + s.r0*t.Width + x - t.Col, Src: buf[src : src+n : src+n]}
	if h == 1 || t.Width == p.RowLen {
		c.Width, c.Height = n, 1
		return c, true
	}
	c.DstPitch, c.SrcPitch, c.Width, c.Height = t.Width, p.RowLen, y-x, h
	return c, true
}

// direct reads part of a piece straight into its CPU target.
func (r *reader) direct(j *job) error {
	e := r.e
	fp := &e.p.Files[j.file]
	p := &fp.Pieces[j.piece]
	t := p.Targets[j.target]
	dst := e.mems[j.file][t.Alloc].cpu
	row := p.SrcLen / p.Rows
	var n int64
	fill := func(d []byte, off int64) error {
		n += int64(len(d))
		var err error
		if p.From == p.To {
			err = readFull(fp.File, d, off)
		} else {
			err = r.convert(fp.File, d, off, srcBytes(p, int64(len(d))), p.From, p.To)
		}
		if err != nil {
			err = r.readError(fp, j.piece, off, err)
		}
		return err
	}
	var err error
	switch {
	case p.Rows == 1:
		err = fill(dst[t.Off+j.c0-t.Col:t.Off+j.c1-t.Col], p.SrcOff+srcBytes(p, j.c0))
	case t.Width == p.RowLen:
		err = fill(dst[t.Off+j.r0*t.Width:t.Off+j.r1*t.Width], p.SrcOff+j.r0*row)
	default:
		for rw := j.r0; rw < j.r1 && err == nil; rw++ {
			err = fill(dst[t.Off+rw*t.Width:t.Off+(rw+1)*t.Width], p.SrcOff+rw*row+srcBytes(p, t.Col))
		}
	}
	if err != nil {
		return err
	}
	st := e.slots[fp.Allocs[t.Alloc].Device]
	st.mark(e.since())
	e.done.Add(n)
	return nil
}
