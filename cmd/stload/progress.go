package main

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// progressInterval is how often a progress bar is redrawn at most.
const progressInterval = 100 * time.Millisecond

// progressBar draws one line of progress on a terminal:
//
//	[=========>          ]  1.2/3.4 GB  5.61 GB/s  ETA 0:02
//
// redrawn in place with a carriage return, and erased by done. Its
// methods may be called from any goroutine.
type progressBar struct {
	w     io.Writer
	start time.Time
	now   func() time.Time // time.Now, or a test's clock

	mu    sync.Mutex
	width int  // length of the line on the screen, for erasing it
	ended bool // done was called: draw nothing more
}

// progress returns a bar drawing on w when w is a terminal and quiet is
// false, else nil. A nil *progressBar draws nothing, so callers need not
// check.
func (e *env) progress(w io.Writer, quiet bool) *progressBar {
	if quiet || !e.terminal(w) {
		return nil
	}
	return &progressBar{w: w, start: time.Now(), now: time.Now}
}

// update redraws the bar for done of total bytes. A total of 0 (nothing
// to copy) draws nothing.
func (p *progressBar) update(done, total int64) {
	if p == nil || total <= 0 {
		return
	}
	p.draw(p.line(done, total, p.now().Sub(p.start)))
}

// syncing draws the bar of a finished total with "syncing" after it: the
// bytes are all written and the output is being flushed to disk (fsync),
// which can take a while for gigabytes written to the page cache.
func (p *progressBar) syncing(total int64) {
	if p == nil || total <= 0 {
		return
	}
	p.draw(p.line(total, total, p.now().Sub(p.start)) + "  syncing")
}

// message draws a line of text in the bar's place, for a step that has no
// byte count ("verifying...").
func (p *progressBar) message(s string) {
	if p == nil {
		return
	}
	p.draw(s)
}

// println erases the bar and writes s on a line of its own in its place;
// the next update draws the bar again below it.
func (p *progressBar) println(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.width > 0 {
		io.WriteString(p.w, "\r"+strings.Repeat(" ", p.width)+"\r")
		p.width = 0
	}
	io.WriteString(p.w, s+"\n")
}

// draw replaces the line on the screen with line.
func (p *progressBar) draw(line string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ended {
		return
	}
	pad := ""
	if n := len(line); n < p.width {
		pad = strings.Repeat(" ", p.width-n)
	}
	io.WriteString(p.w, "\r"+line+pad)
	p.width = len(line)
}

// done erases the bar, leaving the cursor at the start of an empty line,
// and stops later updates from drawing.
func (p *progressBar) done() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.ended && p.width > 0 {
		io.WriteString(p.w, "\r"+strings.Repeat(" ", p.width)+"\r")
	}
	p.ended = true
}

// barCells is the width of the bar between its brackets.
const barCells = 24

// line formats the bar for done of total bytes after elapsed.
func (p *progressBar) line(done, total int64, elapsed time.Duration) string {
	done = min(max(done, 0), total)
	frac := float64(done) / float64(total)
	fill := int(frac * barCells)
	var b strings.Builder
	b.WriteByte('[')
	switch {
	case fill >= barCells:
		b.WriteString(strings.Repeat("=", barCells))
	default:
		b.WriteString(strings.Repeat("=", fill))
		b.WriteByte('>')
		b.WriteString(strings.Repeat(" ", barCells-fill-1))
	}
	b.WriteString("]  ")
	unit, div := decimalUnit(total)
	fmt.Fprintf(&b, "%.1f/%.1f %s", float64(done)/div, float64(total)/div, unit)
	if s := elapsed.Seconds(); s > 0 && done > 0 {
		rate := float64(done) / s
		// GB/s whatever the size, as the load report prints rates.
		b.WriteString("  " + rateText(rate/1e9) + " GB/s")
		if done < total {
			b.WriteString("  ETA " + clock(time.Duration(float64(total-done)/rate*float64(time.Second))))
		}
	}
	return b.String()
}

// decimalUnit picks the decimal unit (B, kB, MB, GB, TB) in which n reads
// best, and its size.
func decimalUnit(n int64) (string, float64) {
	switch {
	case n >= 1e12:
		return "TB", 1e12
	case n >= 1e9:
		return "GB", 1e9
	case n >= 1e6:
		return "MB", 1e6
	case n >= 1e3:
		return "kB", 1e3
	}
	return "B", 1
}

// clock formats d rounded up to the second as M:SS, or H:MM:SS from an
// hour.
func clock(d time.Duration) string {
	s := int64((d + time.Second - 1) / time.Second)
	if s < 0 {
		s = 0
	}
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}
