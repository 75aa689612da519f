package devicetest_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stload/stload/device"
	"github.com/stload/stload/device/devicetest"
)

// TestCheck: the backend's checks catch what they promise: memory freed
// while a copy into it is in flight, a copy from memory that is not
// pinned, memory never freed; and the bytes of a copy land.
func TestCheck(t *testing.T) {
	b := devicetest.New(devicetest.Options{Delay: 20 * time.Millisecond})
	a, err := b.Open(0)
	if err != nil {
		t.Fatal(err)
	}
	h, _ := a.AllocHost(64)
	s, _ := a.NewStream()
	copy(h.Bytes(), "hello")
	m, _ := a.Alloc(64)
	if err := s.Copy(device.Copy{Dst: m, Src: h.Bytes()[:5], Width: 5, Height: 1}); err != nil {
		t.Fatal(err)
	}
	s.Sync()
	if got := string(b.Bytes(m)[:5]); got != "hello" {
		t.Errorf("device holds %q", got)
	}
	// Five copies land up to 20 ms late: the memory is freed before at
	// least one of them lands.
	for range 5 {
		if err := s.Copy(device.Copy{Dst: m, Src: h.Bytes()[:5], Width: 5, Height: 1}); err != nil {
			t.Fatal(err)
		}
	}
	m.Free()
	if err := s.Copy(device.Copy{Dst: m, Src: h.Bytes()[:5], Width: 5, Height: 1}); err == nil {
		t.Error("a copy into freed memory was accepted")
	}
	leak, _ := a.Alloc(64)
	if err := s.Copy(device.Copy{Dst: leak, Src: make([]byte, 5), Width: 5, Height: 1}); err == nil {
		t.Error("a copy from Go memory was accepted")
	}
	s.Sync()
	err = b.Check()
	for _, w := range []string{"copy completed into freed memory", "not pinned", "leaked 1 devices, 1 allocations"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("Check = %v; want it to say %q", err, w)
		}
	}
	if b.Bytes(m) != nil {
		t.Error("Bytes of freed memory")
	}
	s.Close()
	leak.Free()
	h.Free()
	a.Close()
	if c := b.Counters(); c.HostAllocs != 1 || c.PeakPinned != 64 {
		t.Errorf("counters %+v", c)
	}
}

// TestFaults: the Nth call fails, allocations as out of memory, and so
// does an allocation beyond the free memory.
func TestFaults(t *testing.T) {
	b := devicetest.Install(t, devicetest.Options{Memory: 1000, FailAt: devicetest.Faults{Alloc: 2, Stream: 1}})
	a, err := b.Open(0)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	m, err := a.Alloc(10)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Free()
	if _, err := a.Alloc(10); !errors.Is(err, device.ErrOutOfMemory) {
		t.Errorf("second Alloc = %v; want the injected out of memory", err)
	}
	if _, err := a.Alloc(991); !errors.Is(err, device.ErrOutOfMemory) {
		t.Errorf("Alloc beyond free memory = %v", err)
	}
	if _, err := a.NewStream(); err == nil {
		t.Error("the injected stream fault did not happen")
	}
	if free, _, _ := a.MemInfo(); free != 990 {
		t.Errorf("free %d, want 990", free)
	}
}
