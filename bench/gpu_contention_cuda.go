//go:build cuda

package bench

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/stload/stload/device"
)

// The contention ceiling (issue 10): what the host delivers to the GPU
// when it fills staging buffers and the copy engine reads pinned memory
// at the same time, as the pipeline makes them do. Each alone has a
// ceiling (pread into pinned buffers; pinned H2D); together they share
// the host's memory bandwidth, and the lower of the two rates measured
// side by side bounds any staging loader on this host.

// contentionChunk is the fill and copy size, the pipeline's default
// chunk.
const contentionChunk = 8 << 20

// contention measures, for each reader count, the fill rate alone, then
// fill and copy together (both rates), after the copy rate alone.
func (g *gpuCeilings) contention(path string, threads []int, fillBytes int64) error {
	f, fi, err := openStat(path)
	if err != nil {
		return err
	}
	defer f.Close()
	m, err := unix.Mmap(int(f.Fd()), 0, int(fi.Size()), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return err
	}
	defer unix.Munmap(m)
	fillBytes = min(fillBytes, fi.Size()) / contentionChunk * contentionChunk
	maxT := 0
	for _, t := range threads {
		maxT = max(maxT, t)
	}
	ring, err := g.a.AllocHost(2 * maxT * contentionChunk) // two slots per reader, cycled
	if err != nil {
		return err
	}
	defer ring.Free()
	src, err := g.a.AllocHost(256 << 20) // the copies' source: never written during the run
	if err != nil {
		return err
	}
	defer src.Free()
	dst, err := g.a.Alloc(256 << 20)
	if err != nil {
		return err
	}
	defer dst.Free()
	// An untimed pass maps the file's pages into this process, so that
	// the first timed fill does not pay the page faults the others skip.
	fillRing(m, ring.Bytes(), maxT, fillBytes)
	cp := &copier{a: g.a, src: src.Bytes(), dst: dst}
	alone, err := cp.run(func() bool { return cp.bytes.Load() >= fillBytes })
	if err != nil {
		return err
	}
	if err := g.emitRate("pinned H2D 8 MiB copies, 2 streams, alone", 2, alone); err != nil {
		return err
	}
	for _, t := range threads {
		if err := g.contend(m, ring.Bytes(), cp, t, fillBytes); err != nil {
			return err
		}
	}
	return nil
}

// contend measures t goroutines filling ring from m alone, then while cp
// copies, and the copy rate meanwhile.
func (g *gpuCeilings) contend(m, ring []byte, cp *copier, t int, fillBytes int64) error {
	fill := func() float64 { return fillRing(m, ring, t, fillBytes) }
	if err := g.emitRate(fmt.Sprintf("fill: %d goroutine(s) copy the mapped file into a cycling pinned ring, alone", t), t, fill()); err != nil {
		return err
	}
	var fillRate float64
	var done atomic.Bool
	go func() {
		fillRate = fill()
		done.Store(true)
	}()
	copyRate, err := cp.run(done.Load)
	for !done.Load() { // a failed copier returns early
		time.Sleep(time.Millisecond)
	}
	if err != nil {
		return err
	}
	if err := g.emitRate(fmt.Sprintf("contention: fill with %d goroutine(s) while copying", t), t, fillRate); err != nil {
		return err
	}
	return g.emitRate(fmt.Sprintf("contention: pinned H2D while %d goroutine(s) fill", t), 2, copyRate)
}

// emitRate records a rate measured once as a figure of one run.
func (g *gpuCeilings) emitRate(name string, threads int, bytesPerSec float64) error {
	const unit = 1 << 30 // report as the time for 1 GiB at that rate
	f := &Figure{Group: "gpu-contention", Impl: "ceiling", Threads: threads, Bytes: unit, Name: name,
		Runs: []float64{unit / max(bytesPerSec, 1)}}
	return g.emit(f)
}

// fillRing copies n bytes of m, in contentionChunk pieces taken in order,
// into ring slots from threads goroutines (two slots each, alternated)
// and returns the rate in bytes per second.
func fillRing(m, ring []byte, threads int, n int64) float64 {
	pieces := int(n / contentionChunk)
	start := time.Now()
	parallel(threads, pieces, func(w, i int) error {
		slot := (2*w + i%2) * contentionChunk
		off := int64(i) * contentionChunk
		copy(ring[slot:slot+contentionChunk], m[off:off+contentionChunk])
		return nil
	})
	return float64(int64(pieces)*contentionChunk) / time.Since(start).Seconds()
}

// copier keeps 8 MiB host-to-device copies in flight on two streams, as
// the pipeline does, from src, which nobody writes meanwhile.
type copier struct {
	a     device.Accelerator
	src   []byte
	dst   device.Memory
	bytes atomic.Int64
}

// run copies until stop reports true and returns the rate.
func (c *copier) run(stop func() bool) (float64, error) {
	c.bytes.Store(0)
	slots := len(c.src) / contentionChunk
	var wg sync.WaitGroup
	errs := make([]error, 2)
	start := time.Now()
	for k := range 2 {
		wg.Go(func() { errs[k] = c.stream(k, slots, stop) })
	}
	wg.Wait()
	rate := float64(c.bytes.Load()) / time.Since(start).Seconds()
	return rate, errors.Join(errs...)
}

// stream issues copies on one stream, four in flight, each followed by
// an event, until stop.
func (c *copier) stream(k, slots int, stop func() bool) error {
	s, err := c.a.NewStream()
	if err != nil {
		return err
	}
	defer s.Close()
	var events []device.Event
	for i := 0; !stop(); i++ {
		slot := (2*i + k) % slots * contentionChunk
		if err := s.Copy(device.Copy{Dst: c.dst, DstOff: int64(slot), Src: c.src[slot : slot+contentionChunk],
			Width: contentionChunk, Height: 1}); err != nil {
			return err
		}
		ev, err := s.Record()
		if err != nil {
			return err
		}
		events = append(events, ev)
		if len(events) == 4 {
			err := events[0].Wait()
			events[0].Close()
			events = events[1:]
			if err != nil {
				return err
			}
			c.bytes.Add(contentionChunk)
		}
	}
	for _, ev := range events {
		if err := ev.Wait(); err != nil {
			return err
		}
		ev.Close()
		c.bytes.Add(contentionChunk)
	}
	return nil
}
