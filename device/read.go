package device

import (
	"context"
	"fmt"
	"io"
	"unsafe"

	"github.com/stload/stload/dtype"
	"github.com/stload/stload/loader"
)

// reader is one reader goroutine's state.
type reader struct {
	e    *loadRun
	id   int
	conv dtype.ConvertReader // converts ranges of files that are not mapped
	sec  io.SectionReader    // the range conv reads
	src  fileWithContext     // what sec reads: reused, so a conversion allocates nothing
	lane *laneRec            // the reader's timeline lane, or nil
	vec  []byte              // mincore's result for a span, allocated on first use
}

// span is a run of unconverted bytes to read in one call: n bytes of the
// file at off into the buffer at at.
type span struct {
	at, off, n int64
	piece      int
}

// read runs jobs until there are no more or ctx is done.
func (e *loadRun) read(ctx context.Context, id int, jobs <-chan *job, flights chan<- *job) {
	r := &reader{e: e, id: id, lane: e.rec.lane(laneReader + id)}
	for {
		t0 := r.lane.tick()
		select {
		case <-ctx.Done():
			return
		case j, ok := <-jobs:
			if !ok || ctx.Err() != nil {
				return
			}
			r.lane.span(phaseWaitJob, t0, -1, 0)
			var err error
			if j.cpu {
				err = r.readCPU(ctx, j)
				e.recycle(j)
			} else {
				err = r.stage(ctx, j, flights)
			}
			if err != nil {
				e.fail(err)
				return
			}
		}
	}
}

// stage gets a chunk's source (a staging buffer, which it fills from the
// file, or a page-locked window of the mapping) and enqueues the chunk's
// copies from it. Once it has the source the job always goes on to the
// reaper, which releases the source when every copy from it has finished.
func (r *reader) stage(ctx context.Context, j *job, flights chan<- *job) error {
	var err error
	t0 := r.lane.tick()
	if j.registered {
		j.src, err = r.lockWindow(ctx, j)
	} else {
		j.src, err = r.e.ring.get(ctx, r.e.cfg.perf.lazyPin)
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil // stopped; the load reports why
		}
		return err
	}
	t1 := r.lane.span(phaseWaitBuffer, t0, j.seq, 0)
	j.times = jobTimes{reader: r.id, read0: t1, read1: t1}
	buf := j.src.Bytes()
	if !j.registered {
		err = r.fillChunk(ctx, j, buf)
		j.times.read1 = r.lane.tick()
	}
	if err == nil {
		j.times.issue0 = j.times.read1
		err = r.dispatch(j, buf)
		j.times.issue1 = r.lane.span(phaseIssue, j.times.issue0, j.seq, 0)
	}
	flights <- j // the reaper drains flights without waiting for readers
	return err
}

// lockWindow page-locks the job's window of the file's mapping, waiting
// while chunks windows are locked already.
func (r *reader) lockWindow(ctx context.Context, j *job) (HostMemory, error) {
	e := r.e
	select {
	case e.windows <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	fp := &e.p.files[j.file]
	b, off := windowOf(e.maps[j.file], j.window, e.windowSize)
	h, err := e.registrar.RegisterReadOnly(b)
	if err != nil {
		<-e.windows
		return nil, &Error{Op: "register mapping", Device: e.registrarDev, File: fp.File.Name(),
			Detail: fmt.Sprintf("%d bytes at byte %d", len(b), off), Err: backendError(err)}
	}
	raise(&e.maxLocked, e.locked.Add(int64(len(b))))
	return h, nil
}

// windowOf returns window win of a mapping cut into windows of size bytes,
// a multiple of pageSize, and its offset in the file. The last window runs
// to the end of the last page, which the mapping covers even past the end
// of the file.
func windowOf(m []byte, win, size int64) ([]byte, int64) {
	whole := roundUp(int64(len(m)), pageSize)
	all := unsafe.Slice(unsafe.SliceData(m), whole)
	return all[win*size : min((win+1)*size, whole)], win * size
}

// srcOf returns the file offset of seg s of piece p and the number of
// source bytes it covers.
func srcOf(p *piece, s *seg) (int64, int64) {
	row := p.SrcLen / p.Rows
	off := p.SrcOff + s.r0*row + srcBytes(p, s.c0)
	if s.c0 == 0 && s.c1 == p.RowLen {
		return off, (s.r1 - s.r0) * row
	}
	return off, srcBytes(p, s.c1-s.c0)
}

// srcBytes converts a length in converted bytes to source bytes.
func srcBytes(p *piece, n int64) int64 {
	if p.From == p.To {
		return n
	}
	return n * int64(p.From.Bits()) / int64(p.To.Bits())
}

// fillChunk reads (and converts) every segment of a chunk into buf.
// Unconverted segments that follow each other both in the file and in the
// buffer are read with one call: with O_DIRECT when the file allows it and
// the span's pages are not in the page cache (readDirect), else from the
// mapping or with pread.
func (r *reader) fillChunk(ctx context.Context, j *job, buf []byte) error {
	fp := &r.e.p.files[j.file]
	var sp span    // unconverted bytes gathered for one read
	var used int64 // buf[:used] holds bytes of earlier spans
	flush := func() error {
		if sp.n == 0 {
			return nil
		}
		t0 := r.lane.tick()
		phase := phaseDirect
		if !r.readDirect(j.file, buf, sp, used) {
			phase = phaseRead
			if err := r.readPart(ctx, j.file, sp.piece, buf[sp.at:sp.at+sp.n], sp.off, sp.n); err != nil {
				return err
			}
		}
		r.lane.span(phase, t0, j.seq, sp.n)
		used, sp = sp.at+sp.n, span{}
		return nil
	}
	for i := range j.segs {
		s := &j.segs[i]
		p := &fp.Pieces[s.piece]
		off, n := srcOf(p, s)
		if p.From == p.To && sp.n > 0 && sp.off+sp.n == off && sp.at+sp.n == s.off {
			sp.n += n
			continue
		}
		if err := flush(); err != nil {
			return err
		}
		if p.From == p.To {
			sp = span{at: s.off, off: off, n: n, piece: s.piece}
			continue
		}
		t0 := r.lane.tick()
		if err := r.readPart(ctx, j.file, s.piece, buf[s.off:s.off+s.len()], off, n); err != nil {
			return err
		}
		r.lane.span(phaseRead, t0, j.seq, s.len())
		used = s.off + s.len()
	}
	return flush()
}

// readPart reads the n source bytes of piece pi of file fi at file offset
// off into dst, converted when the piece is.
func (r *reader) readPart(ctx context.Context, fi, pi int, dst []byte, off, n int64) error {
	fp := &r.e.p.files[fi]
	p := &fp.Pieces[pi]
	// A file truncated by another process since it was mapped faults when
	// its lost pages are read, in ReadAt or in the conversion.
	err := guardFault(func() error {
		if p.From == p.To {
			return readFull(ctx, fp.File, dst, off)
		}
		return r.convert(ctx, r.e.maps[fi], fp.File, dst, off, n, p.From, p.To)
	})
	if err != nil {
		return &Error{Op: "read", File: fp.File.Name(), Tensor: fp.tensorAt(pi, off),
			Detail: fmt.Sprintf("at byte %d", off), Err: err}
	}
	return nil
}

// readFull reads len(dst) bytes at off, abandoning a remote file's
// requests when ctx is done.
func readFull(ctx context.Context, f *loader.File, dst []byte, off int64) error {
	n, err := f.ReadAtContext(ctx, dst, off)
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
// reader's ConvertReader, which reads the file a block at a time.
func (r *reader) convert(ctx context.Context, m []byte, f *loader.File, dst []byte, off, n int64, from, to dtype.DType) error {
	if m != nil {
		_, err := dtype.Convert(dst, to, m[off:off+n], from)
		return err
	}
	r.src = fileWithContext{ctx, f}
	r.sec = *io.NewSectionReader(&r.src, off, n)
	if err := r.conv.Reset(&r.sec, from, to); err != nil {
		return err
	}
	_, err := io.ReadFull(&r.conv, dst)
	return err
}

// dispatch enqueues the copies of a filled chunk from buf, device by
// device, each device's on one of its streams followed by one event.
func (r *reader) dispatch(j *job, buf []byte) error {
	e := r.e
	fp := &e.p.files[j.file]
	for slot, st := range e.slots {
		if st.ref == nil {
			continue
		}
		stream := st.streams[j.seq%int64(len(st.streams))]
		ce := copyEvent{slot: slot}
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
				if err := stream.Copy(c); err != nil {
					if ce.bytes > 0 {
						stream.Sync() // no event covers the copies already enqueued
					}
					off, _ := srcOf(p, s)
					return e.copyError(j.file, slot, s.piece, off, err)
				}
				if ce.bytes == 0 { // the first copy names the chunk in errors
					ce.piece = s.piece
					ce.srcOff, _ = srcOf(p, s)
				}
				ce.bytes += c.Width * c.Height
			}
		}
		if ce.bytes == 0 {
			continue
		}
		ev, err := stream.Record()
		if err != nil {
			stream.Sync()
			return e.copyError(j.file, slot, ce.piece, ce.srcOff, fmt.Errorf("record event: %w", err))
		}
		ce.ev = ev
		j.events = append(j.events, ce)
	}
	return nil
}

// copyFor returns the copy of seg s's part of target t: one contiguous
// copy for a single row or for whole rows, else a 2-D copy of the target's
// columns with the chunk's rows as source pitch.
func copyFor(p *piece, s *seg, t dest, mem Memory, buf []byte) (Copy, bool) {
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

// readCPU reads a part of a piece straight into its CPU target.
func (r *reader) readCPU(ctx context.Context, j *job) error {
	e := r.e
	fp := &e.p.files[j.file]
	s := &j.part
	p := &fp.Pieces[s.piece]
	t := p.Targets[j.target]
	dst := e.mems[j.file][t.Alloc].cpu
	read := func(part seg) error {
		at := t.Off + part.r0*t.Width + part.c0 - t.Col
		off, n := srcOf(p, &part)
		return r.readPart(ctx, j.file, part.piece, dst[at:at+part.len()], off, n)
	}
	var err error
	t0 := r.lane.tick()
	defer func() { r.lane.span(phaseRead, t0, -1, s.len()) }()
	if t.Width == p.RowLen { // whole rows: contiguous in the file and in dst
		err = read(*s)
	} else {
		for rw := s.r0; rw < s.r1 && err == nil; rw++ {
			err = read(seg{piece: s.piece, r0: rw, r1: rw + 1, c0: s.c0, c1: s.c1})
		}
	}
	if err != nil {
		return err
	}
	e.slots[fp.Allocs[t.Alloc].Device].mark(e.since())
	e.done.Add(s.len())
	return nil
}

// fileWithContext is a file as an io.ReaderAt whose reads are abandoned
// when ctx is done, for a SectionReader. It holds the context because
// ReadAt takes none (the case Go's guidance allows); a reader sets it for
// one conversion.
type fileWithContext struct {
	ctx context.Context
	f   *loader.File
}

// ReadAt reads through the file with the context.
func (s *fileWithContext) ReadAt(p []byte, off int64) (int, error) {
	return s.f.ReadAtContext(s.ctx, p, off)
}
