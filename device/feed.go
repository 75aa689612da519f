package device

import (
	"context"

	"github.com/stload/stload/dtype"
)

// feed allocates each file's memory and sends its jobs, in file order,
// until ctx is done.
func (e *loadRun) feed(ctx context.Context, jobs chan<- *job) {
	defer close(jobs)
	c := chunker{e: e, jobs: jobs, stop: ctx.Done()}
	lane := e.rec.lane(laneFeeder)
	for fi := range e.p.files {
		t0 := lane.tick()
		if ctx.Err() != nil || !e.allocate(fi) {
			return
		}
		lane.span(phaseAlloc, t0, -1, 0)
		c.fi, c.registered, c.size = fi, e.canRegister(fi), int64(e.cfg.chunkSize)
		if c.registered {
			c.size = e.windowSize
		} else {
			e.direct[fi] = e.openDirect(fi)
		}
		c.direct, c.last = e.direct[fi] != nil, -1
		if !c.file() {
			return
		}
	}
}

// chunker cuts the files' pieces into jobs.
type chunker struct {
	e    *loadRun
	jobs chan<- *job
	stop <-chan struct{} // closed when the load stops
	seq  int64           // chunks started so far, over all files

	fi   int   // the file being cut
	size int64 // chunk size
	cur  *job
	used int64 // bytes of cur's buffer used

	// registered cuts pieces at windows of size bytes of the file's mapping
	// instead of packing them into staging buffers (WithRegister).
	registered bool
	// direct gives each run of the file pages of the buffer of its own
	// (see align), so that it can be read with O_DIRECT; last is the file
	// offset where the previous segment ended.
	direct bool
	last   int64
}

// send hands j to the readers; false when the load stopped.
func (c *chunker) send(j *job) bool {
	select {
	case c.jobs <- j:
		return true
	case <-c.stop:
		return false
	}
}

// file sends every job of the file; false when the load stopped.
func (c *chunker) file() bool {
	fp := &c.e.p.files[c.fi]
	for pi := range fp.Pieces {
		p := &fp.Pieces[pi]
		staged := false
		for ti, t := range p.Targets {
			if c.e.slots[fp.Allocs[t.Alloc].Device].ref == nil {
				if !c.cpu(pi, p, ti, t) {
					return false
				}
			} else {
				staged = true
			}
		}
		switch {
		case !staged:
		case c.registered:
			if !c.windows(pi, p) {
				return false
			}
		case !c.stage(pi, p):
			return false
		}
	}
	return c.flush()
}

// stagedUnit is the smallest run of converted bytes that holds whole
// source bytes and whole elements: chunk boundaries fall on multiples of
// it, so each part converts on its own.
func stagedUnit(from, to dtype.DType) int64 {
	if from == to {
		return 1
	}
	g := int64(1) // elements per group filling whole source bytes
	for g*int64(from.Bits())%8 != 0 {
		g++
	}
	return g * int64(to.Size())
}

// roundUp rounds n up to a multiple of m.
func roundUp(n, m int64) int64 { return (n + m - 1) / m * m }

// stage adds piece pi to chunks: bands of whole rows while a row fits a
// chunk, else runs of columns of one row at a time.
func (c *chunker) stage(pi int, p *piece) bool {
	unit := stagedUnit(p.From, p.To)
	if p.Rows > 1 && p.RowLen <= c.size {
		for r := int64(0); r < p.Rows; {
			c.align(p, r, 0)
			k := min(p.Rows-r, (c.size-c.used)/p.RowLen)
			if k == 0 && c.cur == nil { // padding alone filled a fresh chunk: go unaligned
				c.used, k = 0, 1
			}
			if k == 0 {
				if !c.flush() {
					return false
				}
				continue
			}
			c.add(seg{piece: pi, r0: r, r1: r + k, c0: 0, c1: p.RowLen})
			r += k
		}
		return true
	}
	for r := int64(0); r < p.Rows; r++ {
		for col := int64(0); col < p.RowLen; {
			c.align(p, r, col)
			n := min(p.RowLen-col, (c.size-c.used)/unit*unit)
			if n == 0 && c.cur == nil {
				c.used = 0
				n = min(p.RowLen-col, c.size/unit*unit)
			}
			if n == 0 {
				if !c.flush() {
					return false
				}
				continue
			}
			c.add(seg{piece: pi, r0: r, r1: r + 1, c0: col, c1: col + n})
			col += n
		}
	}
	return true
}

// pageSize is the unit of page-locking: mapping windows start and end on
// multiples of it. 4 KiB is the smallest page of the platforms CUDA runs
// on, and windows are large multiples of it.
const pageSize = 4096

// canRegister reports whether file fi can be copied straight from its
// mapping: WithRegister was asked for, every accelerator can page-lock
// host memory, the file is mapped, and nothing it sends to an accelerator
// needs conversion (converted bytes must be staged).
func (e *loadRun) canRegister(fi int) bool {
	fp := &e.p.files[fi]
	if e.registrar == nil || e.maps[fi] == nil {
		return false
	}
	for i := range fp.Pieces {
		if p := &fp.Pieces[i]; p.From != p.To {
			return false
		}
	}
	return true
}

// windows cuts piece pi at the windows of the file (absolute offsets that
// are multiples of c.size): each window is one job, whose segments sit
// where their bytes are in the window. Whole rows that fit in the window
// form one band; a row that crosses a window boundary is split into runs
// of columns.
func (c *chunker) windows(pi int, p *piece) bool {
	row := p.SrcLen / p.Rows // unconverted, so equal to p.RowLen
	for r, col := int64(0), int64(0); r < p.Rows; {
		pos := p.SrcOff + r*row + col
		win := pos / c.size
		if c.cur != nil && c.cur.window != win && !c.flush() {
			return false
		}
		end := (win + 1) * c.size
		if k := min(p.Rows-r, (end-pos)/row); col == 0 && k > 0 {
			c.place(seg{piece: pi, r0: r, r1: r + k, c0: 0, c1: row}, win, pos)
			r += k
			continue
		}
		n := min(row-col, end-pos)
		c.place(seg{piece: pi, r0: r, r1: r + 1, c0: col, c1: col + n}, win, pos)
		if col += n; col == row {
			r, col = r+1, 0
		}
	}
	return true
}

// chunk returns the current chunk, starting one if there is none.
func (c *chunker) chunk() *job {
	if c.cur == nil {
		c.cur = c.e.newJob()
		c.cur.file, c.cur.seq = c.fi, c.seq
		c.seq++
		c.e.chunkCut(c.seq)
	}
	return c.cur
}

// place adds s, whose bytes start at file offset pos, to the job of
// window win.
func (c *chunker) place(s seg, win, pos int64) {
	j := c.chunk()
	j.registered, j.window = true, win
	s.off = pos - win*c.size
	j.segs = append(j.segs, s)
}

// align pads the current chunk so that the next segment of p, starting at
// row r and column col, lands at the same address modulo 64 as its bytes in
// the file. Copying between addresses that disagree mod 64 runs several
// times slower on some CPUs (pread measured at 0.2x on Zen 3, see
// bench/RESULTS.md); the GPU copy does not care where the bytes sit. A
// segment that continues the previous one in the file needs no padding, so
// contiguous runs still merge into one read.
//
// For a file read with O_DIRECT where it is not cached (c.direct), a
// segment that does not continue the previous one starts on a page of
// the buffer of its own, at its file offset's place within a page: an
// O_DIRECT read covers whole pages of the file, so it lands the page's
// bytes before and after the segment in the buffer too, which must not
// hold another segment's bytes. That costs at most two pages per run of
// the file in a chunk.
func (c *chunker) align(p *piece, r, col int64) {
	if p.From != p.To {
		return // converted bytes are written by the converter, not copied
	}
	src, _ := srcOf(p, &seg{r0: r, r1: r + 1, c0: col, c1: col + 1})
	if c.direct {
		if src != c.last || c.used == 0 {
			c.used = min(roundUp(c.used, pageSize)+src%pageSize, c.size)
		}
		return
	}
	pad := (src - c.used) & 63
	if c.used+pad >= c.size {
		pad = 0 // no room left: the caller flushes, and the next chunk pads
	}
	c.used += pad
}

// add appends s to the current chunk at the next free offset.
func (c *chunker) add(s seg) {
	j := c.chunk()
	s.off = c.used
	c.used += s.len()
	j.segs = append(j.segs, s)
	p := &c.e.p.files[c.fi].Pieces[s.piece]
	if off, n := srcOf(p, &s); p.From == p.To {
		c.last = off + n
	} else {
		c.last = -1
	}
}

// flush sends the current chunk, if any.
func (c *chunker) flush() bool {
	j := c.cur
	c.cur, c.used = nil, 0
	return j == nil || c.send(j)
}

// cpu sends the jobs that read target ti of piece pi straight into CPU
// memory, in parts of about a chunk so that readers share the work.
func (c *chunker) cpu(pi int, p *piece, ti int, t dest) bool {
	send := func(part seg) bool {
		j := c.e.newJob()
		j.file, j.cpu, j.part, j.target = c.fi, true, part, ti
		return c.send(j)
	}
	if p.Rows == 1 {
		unit := stagedUnit(p.From, p.To)
		step := max(c.size/unit*unit, unit)
		for col := t.Col; col < t.Col+t.Width; col += step {
			if !send(seg{piece: pi, r0: 0, r1: 1, c0: col, c1: min(col+step, t.Col+t.Width)}) {
				return false
			}
		}
		return true
	}
	rows := max(1, c.size/max(t.Width, 1))
	for r := int64(0); r < p.Rows; r += rows {
		if !send(seg{piece: pi, r0: r, r1: min(r+rows, p.Rows), c0: t.Col, c1: t.Col + t.Width}) {
			return false
		}
	}
	return true
}
