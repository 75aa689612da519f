//go:build cuda

package cuda

import (
	"fmt"
	"testing"
	"unsafe"

	"gorgonia.org/cu"

	"github.com/stload/stload/device"
)

var benchSizes = []int{4 * MiB, 16 * MiB, 64 * MiB, 256 * MiB}

// BenchmarkH2D measures host-to-device bandwidth (the MB/s column) for
// 4..256 MiB copies three ways: pinned memory through Stream.Copy (this
// package's path, issue overhead included), pinned memory with direct
// driver calls, and pageable Go memory with direct driver calls. Run it with
// a fixed count to bound its time, e.g. -test.benchtime=20x.
func BenchmarkH2D(b *testing.B) {
	a := open(b)
	maxSize := benchSizes[len(benchSizes)-1]
	h := allocHost(b, a, maxSize)
	defer h.Free()
	pageable := make([]byte, maxSize)
	fill(pageable, 1)
	fill(h.Bytes(), 1)
	d := alloc(b, a, int64(maxSize))
	defer d.Free()
	s := newStream(b, a)
	defer s.Close()

	for _, size := range benchSizes {
		name := fmt.Sprintf("%dMiB", size/MiB)
		b.Run("pinned-stream/"+name, func(b *testing.B) {
			c := device.Copy{Dst: d, Src: h.Bytes()[:size], Width: int64(size), Height: 1}
			b.SetBytes(int64(size))
			for range b.N {
				if err := s.Copy(c); err != nil {
					b.Fatal(err)
				}
			}
			if err := s.Sync(); err != nil {
				b.Fatal(err)
			}
		})
		b.Run("pinned-driver/"+name, func(b *testing.B) { benchDriverH2D(b, a, d, h.Bytes()[:size]) })
		b.Run("pageable-driver/"+name, func(b *testing.B) { benchDriverH2D(b, a, d, pageable[:size]) })
	}
}

// benchDriverH2D copies src to d b.N times with cuMemcpyHtoDAsync on one
// non-blocking stream, from one locked thread, and waits for the last copy.
func benchDriverH2D(b *testing.B, a *accel, d device.Memory, src []byte) {
	b.SetBytes(int64(len(src)))
	dst := cu.DevicePtr(d.Ptr())
	p := unsafe.Pointer(unsafe.SliceData(src))
	err := a.slow("bench", func() error {
		s, err := cu.MakeStream(cu.NonBlocking)
		if err != nil {
			return err
		}
		defer s.Destroy()
		b.ResetTimer()
		for range b.N {
			if err := cu.MemcpyHtoDAsync(dst, p, int64(len(src)), s); err != nil {
				return err
			}
		}
		return s.Synchronize()
	})
	if err != nil {
		b.Fatal(err)
	}
}

// BenchmarkCopyIssue measures what Stream.Copy costs the caller for a small
// (64 KiB) copy: validation and the hand-off to the issuing goroutine. The
// stream is synchronised every 256 copies so the queue does not fill.
func BenchmarkCopyIssue(b *testing.B) {
	a := open(b)
	h := allocHost(b, a, 64*KiB)
	defer h.Free()
	d := alloc(b, a, 64*KiB)
	defer d.Free()
	s := newStream(b, a)
	defer s.Close()
	c := device.Copy{Dst: d, Src: h.Bytes(), Width: 64 * KiB, Height: 1}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if err := s.Copy(c); err != nil {
			b.Fatal(err)
		}
		if i%256 == 255 {
			if err := s.Sync(); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := s.Sync(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkRecordWait measures an event round trip on an idle stream:
// Record, Wait, Close.
func BenchmarkRecordWait(b *testing.B) {
	a := open(b)
	s := newStream(b, a)
	defer s.Close()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		ev, err := s.Record()
		if err != nil {
			b.Fatal(err)
		}
		if err := ev.Wait(); err != nil {
			b.Fatal(err)
		}
		ev.Close()
	}
}

// BenchmarkRing measures the load pipeline's copy machinery without file
// reading: one goroutine cycles a ring of 8 pinned chunks over 2 streams,
// waiting for a chunk's event before reusing it, as the loader does. Its
// MB/s should approach pinned-driver in BenchmarkH2D at the same size.
func BenchmarkRing(b *testing.B) {
	for _, chunk := range []int{4 * MiB, 16 * MiB, 64 * MiB} {
		b.Run(fmt.Sprintf("%dMiB", chunk/MiB), func(b *testing.B) { benchRing(b, chunk, 8, 2) })
	}
}

func benchRing(b *testing.B, chunk, slots, nstreams int) {
	a := open(b)
	d := alloc(b, a, int64(chunk*slots))
	defer d.Free()
	streams := make([]device.Stream, nstreams)
	for i := range streams {
		streams[i] = newStream(b, a)
		defer streams[i].Close()
	}
	type slot struct {
		host device.HostMemory
		ev   device.Event
	}
	ring := make([]slot, slots)
	for i := range ring {
		ring[i].host = allocHost(b, a, chunk)
		defer ring[i].host.Free()
	}
	b.SetBytes(int64(chunk))
	b.ResetTimer()
	for i := range b.N {
		sl := &ring[i%slots]
		if sl.ev != nil {
			if err := sl.ev.Wait(); err != nil {
				b.Fatal(err)
			}
			sl.ev.Close()
		}
		s := streams[i%nstreams]
		c := device.Copy{Dst: d, DstOff: int64(i%slots) * int64(chunk), Src: sl.host.Bytes(), Width: int64(chunk), Height: 1}
		if err := s.Copy(c); err != nil {
			b.Fatal(err)
		}
		ev, err := s.Record()
		if err != nil {
			b.Fatal(err)
		}
		sl.ev = ev
	}
	for _, s := range streams {
		if err := s.Sync(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	for i := range ring {
		if ring[i].ev != nil {
			ring[i].ev.Close()
		}
	}
}
