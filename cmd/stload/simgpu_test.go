package main

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/stload/stload/device"
	"github.com/stload/stload/device/devicetest"
)

// simGPU is the repository's simulated accelerator backend
// (device/devicetest), registered for a test, so that load's GPU path
// (staging ring, pinned memory, streams, several devices, verification)
// runs without a GPU, with devicetest's checks: copies that land late and
// out of order, sources that must stay untouched until their event, and
// everything released at the end. corrupt makes reads back from its
// devices flip a bit, so that --verify finds a difference.
type simGPU struct {
	*devicetest.Backend
	corrupt atomic.Bool
}

// newSimGPU registers a backend of count devices with memory bytes each,
// and checks at the end of the test that it was used by the rules and
// that everything was released (devicetest.Backend.Check).
func newSimGPU(t *testing.T, count int, memory int64) *simGPU {
	t.Helper()
	s := &simGPU{Backend: devicetest.New(devicetest.Options{GPUs: count, Memory: memory, Delay: time.Millisecond})}
	unregister := device.Register(s)
	t.Cleanup(func() {
		unregister()
		if err := s.Check(); err != nil {
			t.Error(err)
		}
	})
	return s
}

// dev returns the name of device i, as --device takes it.
func (s *simGPU) dev(i int) string { return s.Device(i).String() }

// Open opens device i of the simulated backend, with reads that obey
// corrupt.
func (s *simGPU) Open(i int) (device.Accelerator, error) {
	a, err := s.Backend.Open(i)
	if err != nil {
		return nil, err
	}
	return corruptible{a, &s.corrupt}, nil
}

// corruptible is an accelerator whose Read flips a bit while corrupt is
// set: a device that gives back other bytes than it was given.
type corruptible struct {
	device.Accelerator
	corrupt *atomic.Bool
}

func (c corruptible) Read(dst []byte, src device.Memory, off int64) error {
	err := c.Accelerator.Read(dst, src, off)
	if err == nil && c.corrupt.Load() && len(dst) > 0 {
		dst[len(dst)/2] ^= 1
	}
	return err
}
