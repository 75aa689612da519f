//go:build cuda

package cuda

import (
	"time"
	"unsafe"

	"gorgonia.org/cu"
)

// MeasureH2D measures host-to-device bandwidth from src in bytes per second:
// it copies all of src iters times, round-robin over the given number of
// streams, each into its own device buffer, and times from the first copy to
// the end of the last. One untimed copy per stream comes first. src may be
// page-locked (from AllocHost or RegisterHost) or ordinary pageable memory,
// which the driver stages through its own buffers; comparing the two gives
// the pinned and pageable ceilings of the measurement protocol.
//
// It calls the driver directly on the caller's goroutine, bypassing the
// Stream queue, so it shows what the hardware does; a benchmark of
// Stream.Copy shows what this package adds.
func (a *Accelerator) MeasureH2D(src []byte, iters, streams int) (bytesPerSec float64, err error) {
	n := int64(len(src))
	if n == 0 || iters < 1 || streams < 1 {
		return 0, &Error{Device: a.index, Op: "measure h2d", Err: ErrInvalidSize}
	}
	p := unsafe.Pointer(unsafe.SliceData(src))
	err = a.slow("measure h2d "+formatBytes(n), func() error {
		dst, err := cu.MemAlloc(n * int64(streams))
		if err != nil {
			return err
		}
		defer cu.MemFree(dst)
		ss := make([]cu.Stream, 0, streams)
		defer func() {
			for i := range ss {
				ss[i].Destroy()
			}
		}()
		for range streams {
			s, err := cu.MakeStream(cu.NonBlocking)
			if err != nil {
				return err
			}
			ss = append(ss, s)
		}
		copyAll := func(count int) error {
			for i := range count {
				k := i % streams
				if err := cu.MemcpyHtoDAsync(dst+cu.DevicePtr(int64(k)*n), p, n, ss[k]); err != nil {
					return err
				}
			}
			for _, s := range ss {
				if err := s.Synchronize(); err != nil {
					return err
				}
			}
			return nil
		}
		if err := copyAll(streams); err != nil { // warm-up
			return err
		}
		start := time.Now()
		if err := copyAll(iters); err != nil {
			return err
		}
		bytesPerSec = float64(n) * float64(iters) / time.Since(start).Seconds()
		return nil
	})
	return bytesPerSec, err
}
