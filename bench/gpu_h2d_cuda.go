//go:build cuda

package bench

import (
	"errors"
	"runtime"
	"time"
	"unsafe"

	"gorgonia.org/cu"

	_ "github.com/stload/stload/cuda" // registers the "cuda" backend
	"github.com/stload/stload/device"
)

// cudaBackend returns the "cuda" backend, which the cuda package
// registers: the harness reaches GPUs through the device package's
// interfaces, as the loader does.
func cudaBackend() (device.Backend, error) {
	b, ok := device.LookupBackend(device.GPUBackend)
	if !ok {
		return nil, errors.New("the cuda backend is not registered")
	}
	return b, nil
}

// measureH2D measures host-to-device bandwidth from src to GPU index in
// bytes per second: it copies all of src iters times, round-robin over
// the given number of streams, each into its own device buffer, and times
// from the first copy to the end of the last. One untimed copy per stream
// comes first. src may be page-locked (AllocHost, RegisterReadOnly) or
// ordinary pageable memory, which the driver stages through its own
// buffers; comparing the two gives the pinned and pageable ceilings of the
// protocol. It calls the driver directly, on a locked thread with the
// device's primary context current, bypassing the cuda backend's streams:
// it shows what the hardware does, and the loader's figures what the
// pipeline adds.
func measureH2D(index int, src []byte, iters, streams int) (float64, error) {
	n := int64(len(src))
	if n == 0 || iters < 1 || streams < 1 {
		return 0, errors.New("measureH2D: nothing to copy")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	pop, err := pushPrimaryCtx(index)
	if err != nil {
		return 0, err
	}
	defer pop()
	dst, err := cu.MemAlloc(n * int64(streams))
	if err != nil {
		return 0, err
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
			return 0, err
		}
		ss = append(ss, s)
	}
	p := unsafe.Pointer(unsafe.SliceData(src))
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
		return 0, err
	}
	start := time.Now()
	if err := copyAll(iters); err != nil {
		return 0, err
	}
	return float64(n) * float64(iters) / time.Since(start).Seconds(), nil
}

// pushPrimaryCtx makes GPU index's primary context current on this
// thread, retaining it; pop makes it no longer current and releases it.
func pushPrimaryCtx(index int) (pop func(), err error) {
	dev, err := cu.GetDevice(index)
	if err != nil {
		return nil, err
	}
	ctx, err := dev.RetainPrimaryCtx()
	if err != nil {
		return nil, err
	}
	if err := cu.PushCurrentCtx(ctx); err != nil {
		dev.ReleasePrimaryCtx()
		return nil, err
	}
	return func() {
		cu.PopCurrentCtx()
		dev.ReleasePrimaryCtx()
	}, nil
}
