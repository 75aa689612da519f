//go:build cuda

package cuda

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"unsafe"

	"github.com/stload/stload/device"
	"github.com/stload/stload/dtype"
	"github.com/stload/stload/loader"
)

const (
	KiB = 1 << 10
	MiB = 1 << 20
	GiB = 1 << 30
)

// open opens cuda:0 for one test and closes it at the end.
func open(t testing.TB) *accel {
	t.Helper()
	a, err := openDevice(0)
	if err != nil {
		t.Fatalf("openDevice(0): %v", err)
	}
	t.Cleanup(func() {
		if err := a.Close(); err != nil && !errors.Is(err, errClosed) {
			t.Errorf("Close: %v", err)
		}
	})
	return a
}

func alloc(t testing.TB, a *accel, n int64) device.Memory {
	t.Helper()
	m, err := a.Alloc(n)
	noErr(t, err)
	return m
}

func allocHost(t testing.TB, a *accel, n int) device.HostMemory {
	t.Helper()
	h, err := a.AllocHost(n)
	noErr(t, err)
	return h
}

func newStream(t testing.TB, a *accel) device.Stream {
	t.Helper()
	s, err := a.NewStream()
	noErr(t, err)
	return s
}

func record(t testing.TB, s device.Stream) device.Event {
	t.Helper()
	e, err := s.Record()
	noErr(t, err)
	return e
}

func noErr(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// fill writes reproducible pseudo-random bytes for seed into b.
func fill(b []byte, seed uint64) {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	for i := 0; i+8 <= len(b); i += 8 {
		v := r.Uint64()
		b[i], b[i+1], b[i+2], b[i+3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
		b[i+4], b[i+5], b[i+6], b[i+7] = byte(v>>32), byte(v>>40), byte(v>>48), byte(v>>56)
	}
	for i := len(b) &^ 7; i < len(b); i++ {
		b[i] = byte(r.Uint32())
	}
}

func TestRegistered(t *testing.T) {
	b, ok := device.LookupBackend("cuda")
	if !ok {
		t.Fatal("backend cuda not registered")
	}
	if b.Name() != "cuda" {
		t.Errorf("Name() = %q", b.Name())
	}
	n, err := b.Count()
	if err != nil || n < 1 {
		t.Fatalf("Count() = %d, %v; want ≥ 1", n, err)
	}
	acc, err := b.Open(0)
	if err != nil {
		t.Fatal(err)
	}
	defer acc.Close()
	if acc.Index() != 0 || acc.Name() == "" {
		t.Errorf("Index() = %d, Name() = %q", acc.Index(), acc.Name())
	}
	t.Logf("%d device(s); cuda:0 is %q; driver supports CUDA %d", n, acc.Name(), driverVersion())
	// device.Open names the device; the backend's error says which.
	if _, err := b.Open(n); err == nil || !errors.As(err, new(*opError)) || !errors.Is(err, resInvalidDevice) {
		t.Errorf("openDevice(%d) = %v; want an *opError of CUDA_ERROR_INVALID_DEVICE", n, err)
	}
}

func TestMemInfo(t *testing.T) {
	a := open(t)
	free, total, err := a.MemInfo()
	noErr(t, err)
	if total < GiB || free <= 0 || free > total {
		t.Fatalf("MemInfo() = free %d, total %d", free, total)
	}
	engines, err := a.attribute(attrAsyncEngineCount)
	noErr(t, err)
	ro, err := a.attribute(attrReadOnlyHostRegisterSupported)
	noErr(t, err)
	t.Logf("free %s of %s; %d copy engines; read-only host register: %d", formatBytes(free), formatBytes(total), engines, ro)
}

func TestAllocFree(t *testing.T) {
	a := open(t)
	for _, n := range []int64{1, 255, 4 * KiB, 3*MiB + 17} {
		m := alloc(t, a, n)
		if m.Len() != n || m.Ptr() == 0 || m.Ptr()%256 != 0 {
			t.Errorf("Alloc(%d): Len %d, Ptr %#x; want 256-byte aligned", n, m.Len(), m.Ptr())
		}
		noErr(t, m.Free())
		if err := m.Free(); !errors.Is(err, errFreed) {
			t.Errorf("second Free = %v; want errFreed", err)
		}
	}
	z := alloc(t, a, 0)
	if z.Len() != 0 {
		t.Errorf("Alloc(0).Len() = %d", z.Len())
	}
	noErr(t, z.Free())
	if _, err := a.Alloc(-1); !errors.Is(err, errInvalidSize) {
		t.Errorf("Alloc(-1) = %v; want errInvalidSize", err)
	}
}

func TestAllocHostPinned(t *testing.T) {
	a := open(t)
	h := allocHost(t, a, 8*MiB+3)
	b := h.Bytes()
	if len(b) != 8*MiB+3 {
		t.Fatalf("len(Bytes()) = %d", len(b))
	}
	fill(b, 1) // writable everywhere
	p := unsafeData(b)
	var flags uint
	noErr(t, a.slow("host flags", func() (err error) {
		flags, err = memHostGetFlags(p)
		return err
	}))
	if flags&uint(hostAllocPortable) == 0 {
		t.Errorf("cuMemHostGetFlags = %#x; want PORTABLE", flags)
	}
	noErr(t, h.Free())
	if h.Bytes() != nil {
		t.Error("Bytes() after Free is not nil")
	}
	if err := h.Free(); !errors.Is(err, errFreed) {
		t.Errorf("second Free = %v; want errFreed", err)
	}
	// The driver no longer considers it page-locked.
	if err := a.slow("host flags", func() error { _, err := memHostGetFlags(p); return err }); err == nil {
		t.Error("cuMemHostGetFlags succeeds after Free")
	}
}

// TestLinearRoundTrip copies random bytes at several sizes and unaligned
// offsets and reads them back.
func TestLinearRoundTrip(t *testing.T) {
	a := open(t)
	s := newStream(t, a)
	defer s.Close()
	h := allocHost(t, a, 16*MiB)
	defer h.Free()
	d := alloc(t, a, 32*MiB)
	defer d.Free()
	src := h.Bytes()
	for i, tc := range []struct{ srcOff, dstOff, n int }{
		{0, 0, 1},
		{0, 0, 16 * MiB},
		{3, 4099, 5*MiB + 7},
		{1 * MiB, 32*MiB - 4*MiB, 4 * MiB},
	} {
		fill(src, uint64(100+i))
		c := device.Copy{Dst: d, DstOff: int64(tc.dstOff), Src: src[tc.srcOff : tc.srcOff+tc.n], Width: int64(tc.n), Height: 1}
		noErr(t, s.Copy(c))
		noErr(t, s.Sync())
		got := make([]byte, tc.n)
		noErr(t, a.Read(got, d, int64(tc.dstOff)))
		if !bytes.Equal(got, src[tc.srcOff:tc.srcOff+tc.n]) {
			t.Fatalf("case %d: %d bytes at %d differ after the round trip", i, tc.n, tc.dstOff)
		}
	}
}

// Test2DRoundTrip copies a rectangle with width < pitch on both sides, as a
// tensor-parallel column slice does, and checks that the gaps between rows
// are left alone.
func Test2DRoundTrip(t *testing.T) {
	a := open(t)
	s := newStream(t, a)
	defer s.Close()
	const (
		width    = 700
		height   = 513
		srcPitch = 1031
		dstPitch = 768
		dstOff   = 4096 + 5
		srcOff   = 11
	)
	size := int64(dstOff + height*dstPitch + 64)
	d := alloc(t, a, size)
	defer d.Free()
	h := allocHost(t, a, int(size)+srcOff+height*srcPitch)
	defer h.Free()
	buf := h.Bytes()

	// Prefill the destination with a known pattern through a linear copy.
	pattern := buf[:size]
	fill(pattern, 7)
	want := slices.Clone(pattern)
	noErr(t, s.Copy(device.Copy{Dst: d, Src: pattern, Width: size, Height: 1}))
	noErr(t, s.Sync())

	src := buf[size:]
	fill(src, 8)
	noErr(t, s.Copy(device.Copy{
		Dst: d, DstOff: dstOff, DstPitch: dstPitch,
		Src: src[srcOff:], SrcPitch: srcPitch,
		Width: width, Height: height,
	}))
	noErr(t, s.Sync())
	for r := range height {
		copy(want[dstOff+r*dstPitch:][:width], src[srcOff+r*srcPitch:][:width])
	}
	got := make([]byte, size)
	noErr(t, a.Read(got, d, 0))
	if i := firstDiff(got, want); i >= 0 {
		t.Fatalf("device byte %d = %#x, want %#x (row %d, column %d)", i, got[i], want[i], (i-dstOff)/dstPitch, (i-dstOff)%dstPitch)
	}
}

func unsafeData(b []byte) unsafe.Pointer { return unsafe.Pointer(unsafe.SliceData(b)) }

func firstDiff(a, b []byte) int {
	for i := range a {
		if a[i] != b[i] {
			return i
		}
	}
	return -1
}

// TestRingOfPinnedBuffers runs the load pipeline's pattern: several
// goroutines fill a small ring of pinned buffers, copy each chunk on one of
// two streams, record an event, and reuse a buffer only after its event has
// completed. Reusing a buffer too early would corrupt the destination.
func TestRingOfPinnedBuffers(t *testing.T) {
	a := open(t)
	const (
		slots   = 6
		workers = 4
		chunks  = 192
		maxLen  = 2 * MiB
	)
	streams := [2]device.Stream{newStream(t, a), newStream(t, a)}
	// Chunk i has length chunkLen(i) and lands at offsets[i].
	chunkLen := func(i int) int { return maxLen - (i*7919)%(maxLen/2) }
	offsets := make([]int64, chunks+1)
	for i := range chunks {
		offsets[i+1] = offsets[i] + int64(chunkLen(i))
	}
	d := alloc(t, a, offsets[chunks])

	type slot struct {
		buf  []byte
		host device.HostMemory
		ev   device.Event // completes when the last copy from buf is done
	}
	ring := make(chan *slot, slots)
	for range slots {
		h := allocHost(t, a, maxLen)
		ring <- &slot{buf: h.Bytes(), host: h}
	}
	next := make(chan int)
	go func() {
		for i := range chunks {
			next <- i
		}
		close(next)
	}()
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Go(func() {
			for i := range next {
				sl := <-ring
				if sl.ev != nil {
					if err := sl.ev.Wait(); err != nil {
						errs <- err
						return
					}
					sl.ev.Close()
					sl.ev = nil
				}
				b := sl.buf[:chunkLen(i)]
				fill(b, uint64(i))
				s := streams[i%2]
				if err := s.Copy(device.Copy{Dst: d, DstOff: offsets[i], Src: b, Width: int64(len(b)), Height: 1}); err != nil {
					errs <- err
					return
				}
				ev, err := s.Record()
				if err != nil {
					errs <- err
					return
				}
				sl.ev = ev
				ring <- sl
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for _, s := range streams {
		noErr(t, s.Sync())
	}
	got := make([]byte, offsets[chunks])
	noErr(t, a.Read(got, d, 0))
	want := make([]byte, maxLen)
	for i := range chunks {
		w := want[:chunkLen(i)]
		fill(w, uint64(i))
		if !bytes.Equal(got[offsets[i]:offsets[i+1]], w) {
			t.Fatalf("chunk %d corrupted", i)
		}
	}
	for range slots {
		sl := <-ring
		if sl.ev != nil {
			noErr(t, sl.ev.Wait())
			noErr(t, sl.ev.Close())
		}
		noErr(t, sl.host.Free())
	}
	for _, s := range streams {
		noErr(t, s.Close())
	}
	noErr(t, d.Free())
}

// TestMisuse checks that use after Free or Close and invalid copies fail
// with readable errors and do not reach the driver.
func TestMisuse(t *testing.T) {
	a := open(t)
	s := newStream(t, a)
	h := allocHost(t, a, MiB)
	d := alloc(t, a, MiB)
	src := h.Bytes()
	ok := device.Copy{Dst: d, Src: src, Width: MiB, Height: 1}
	noErr(t, s.Copy(ok))

	wantErr := func(what string, err, target error) {
		t.Helper()
		if !errors.Is(err, target) {
			t.Errorf("%s: got %v, want %v", what, err, target)
			return
		}
		if e := (*opError)(nil); !errors.As(err, &e) || e.Device != 0 {
			t.Errorf("%s: %q is not an *opError of device 0", what, err)
		}
		t.Logf("%s: %v", what, err)
	}
	c := ok
	c.DstOff = 1
	wantErr("copy past the end", s.Copy(c), errInvalidCopy)
	c = ok
	c.Height = 0
	wantErr("height 0", s.Copy(c), errInvalidCopy)
	c = device.Copy{Dst: d, Src: src, Width: 10, Height: 3, SrcPitch: 5, DstPitch: 10}
	wantErr("pitch < width", s.Copy(c), errInvalidCopy)
	c = device.Copy{Dst: d, Src: src, Width: 1, Height: 2, SrcPitch: a.maxPitch + 1, DstPitch: 1}
	wantErr("pitch above the device maximum", s.Copy(c), errInvalidCopy)
	c = device.Copy{Dst: d, Src: src[:100], Width: 10, Height: 11, SrcPitch: 10, DstPitch: 10}
	wantErr("2-D source too short", s.Copy(c), errInvalidCopy)
	c = ok
	c.Src = make([]byte, MiB)
	wantErr("pageable source", s.Copy(c), errNotPinned)
	wantErr("foreign memory", s.Copy(device.Copy{Dst: fakeMemory{}, Src: src, Width: 1, Height: 1}), errForeign)
	noErr(t, s.Sync())

	noErr(t, d.Free())
	wantErr("copy into freed memory", s.Copy(ok), errFreed)
	wantErr("read freed memory", a.Read(make([]byte, 1), d, 0), errFreed)

	d2 := alloc(t, a, MiB)
	ok.Dst = d2
	noErr(t, h.Free())
	wantErr("copy from freed host memory", s.Copy(ok), errNotPinned)

	ev := record(t, s)
	noErr(t, ev.Wait())
	noErr(t, ev.Close())
	wantErr("wait on closed event", ev.Wait(), errClosed)
	wantErr("close event twice", ev.Close(), errClosed)

	noErr(t, s.Close())
	wantErr("copy on closed stream", s.Copy(ok), errClosed)
	_, err := s.Record()
	wantErr("record on closed stream", err, errClosed)
	wantErr("sync closed stream", s.Sync(), errClosed)
	wantErr("close stream twice", s.Close(), errClosed)
	noErr(t, d2.Free())
}

type fakeMemory struct{}

func (fakeMemory) Ptr() uintptr { return 1 << 40 }
func (fakeMemory) Len() int64   { return 1 << 30 }
func (fakeMemory) Free() error  { return nil }

func TestOutOfMemory(t *testing.T) {
	a := open(t)
	_, total, err := a.MemInfo()
	noErr(t, err)
	m, err := a.Alloc(total + GiB)
	if err == nil {
		m.Free()
		t.Fatal("allocating more than the device holds succeeded")
	}
	var e *opError
	if !errors.Is(err, resOutOfMemory) || !errors.As(err, &e) || e.Device != 0 {
		t.Fatalf("got %#v; want an *opError on device 0 wrapping resOutOfMemory", err)
	}
	for _, s := range []string{"cuMemAlloc", "CUDA_ERROR_OUT_OF_MEMORY", "(2)"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("%q lacks %q", err, s)
		}
	}
	t.Log(err)
	// The device still works afterwards.
	noErr(t, alloc(t, a, MiB).Free())
}

// TestHostOutOfMemory asks for more pinned memory than any host has:
// cuMemHostAlloc's CUDA_ERROR_OUT_OF_MEMORY is device.ErrOutOfMemory.
func TestHostOutOfMemory(t *testing.T) {
	a := open(t)
	h, err := a.AllocHost(1 << 50)
	if err == nil {
		h.Free()
		t.Fatal("pinning a petabyte succeeded")
	}
	if !errors.Is(err, resOutOfMemory) || !errors.Is(err, device.ErrOutOfMemory) || !strings.Contains(err.Error(), "cuMemHostAlloc") {
		t.Fatalf("got %v; want CUDA_ERROR_OUT_OF_MEMORY, which is device.ErrOutOfMemory", err)
	}
	noErr(t, alloc(t, a, MiB).Free())
}

// TestLoadOutOfMemory loads a file onto cuda:0 while the driver's
// allocations fail for want of memory, after planning found enough free
// (another process took it meanwhile), as the fake driver plays it
// (FAKECUDA_OOM_ALLOC, FAKECUDA_OOM_HOST): device memory, then the pinned
// staging buffers. The load fails with device.ErrOutOfMemory of kind
// OutOfMemory, returns no Set, and gives back all device memory.
func TestLoadOutOfMemory(t *testing.T) {
	a := open(t)
	if a.Name() != "Fake CUDA Device" {
		t.Skip("needs the fake driver of testdata/fakecuda to fail allocations on demand")
	}
	before, _, err := a.MemInfo()
	noErr(t, err)
	path := filepath.Join(t.TempDir(), "m.safetensors")
	data := map[string]loader.Data{
		"w": {DType: dtype.F32, Shape: []uint64{256, 256}, Bytes: make([]byte, 256<<10)},
		"b": {DType: dtype.BF16, Shape: []uint64{256}, Bytes: make([]byte, 512)},
	}
	noErr(t, loader.SaveFile(path, data, nil))
	f, err := loader.Open(path)
	noErr(t, err)
	defer f.Close()
	for _, env := range []string{"FAKECUDA_OOM_ALLOC", "FAKECUDA_OOM_HOST"} {
		t.Run(env, func(t *testing.T) {
			t.Setenv(env, "1")
			set, err := device.Load(t.Context(), device.Files(f), device.On(device.GPU(0)))
			if set != nil || !errors.Is(err, device.ErrOutOfMemory) || loader.Kind(err) != "OutOfMemory" ||
				!strings.Contains(err.Error(), "CUDA_ERROR_OUT_OF_MEMORY") {
				t.Fatalf("load = %v, %v (kind %q); want only an out-of-memory error", set, err, loader.Kind(err))
			}
			t.Log(err)
		})
	}
	after, _, err := a.MemInfo()
	noErr(t, err)
	if after != before {
		t.Errorf("free device memory %d before the loads, %d after", before, after)
	}
	set, err := device.Load(t.Context(), device.Files(f), device.On(device.GPU(0)))
	noErr(t, err)
	noErr(t, set.Verify(t.Context()))
	noErr(t, set.Close())
}

func TestResultNames(t *testing.T) {
	for r, want := range map[cuResult]string{
		resOutOfMemory:  "CUDA_ERROR_OUT_OF_MEMORY",
		resInvalidValue: "CUDA_ERROR_INVALID_VALUE",
		resNotSupported: "CUDA_ERROR_NOT_SUPPORTED",
		cuResult(915):   "CUDA_ERROR_INVALID_RESOURCE_CONFIGURATION",
	} {
		if got := r.Name(); got != want {
			t.Errorf("cuResult(%d).Name() = %q, want %q", int(r), got, want)
		}
	}
	if got := cuResult(123456).Name(); got != "CUDA_ERROR_UNRECOGNIZED_123456" {
		t.Errorf("unknown code: %q", got)
	}
	if s := resOutOfMemory.Error(); !strings.HasPrefix(s, "CUDA_ERROR_OUT_OF_MEMORY (2)") {
		t.Errorf("resOutOfMemory.Error() = %q", s)
	}
}

// TestCloseReleasesEverything leaves device memory, pinned memory, streams
// and events (some with copies in flight) unreleased and checks that Close
// returns the memory. A second accelerator on the same GPU keeps the
// primary context alive, so the memory must come back through Close itself,
// not through the context being destroyed.
func TestCloseReleasesEverything(t *testing.T) {
	watch := open(t)
	before, _, err := watch.MemInfo()
	noErr(t, err)

	a, err := openDevice(0)
	noErr(t, err)
	d := alloc(t, a, 2*GiB)
	h := allocHost(t, a, 64*MiB)
	hp := unsafeData(h.Bytes())
	for range 3 {
		s := newStream(t, a)
		for i := range 8 {
			noErr(t, s.Copy(device.Copy{Dst: d, DstOff: int64(i) * 64 * MiB, Src: h.Bytes(), Width: 64 * MiB, Height: 1}))
		}
		record(t, s)
	}
	during, _, err := watch.MemInfo()
	noErr(t, err)
	if before-during < 2*GiB {
		t.Fatalf("free memory fell by %s only while 2 GiB was allocated", formatBytes(before-during))
	}
	noErr(t, a.Close())

	after, _, err := watch.MemInfo()
	noErr(t, err)
	const tolerance = 64 * MiB
	if before-after > tolerance {
		t.Errorf("free memory %s before, %s after Close: %s not returned", formatBytes(before), formatBytes(after), formatBytes(before-after))
	}
	if err := watch.slow("host flags", func() error { _, err := memHostGetFlags(hp); return err }); err == nil {
		t.Error("pinned host memory still page-locked after Close")
	}
	if _, err := a.Alloc(1); !errors.Is(err, errClosed) {
		t.Errorf("Alloc after Close = %v; want errClosed", err)
	}
	if err := d.Free(); !errors.Is(err, errClosed) {
		t.Errorf("Free after Close = %v; want errClosed", err)
	}
	if err := a.Close(); !errors.Is(err, errClosed) {
		t.Errorf("second Close = %v; want errClosed", err)
	}
}

// TestRegisterHost page-locks an existing buffer and copies from it.
func TestRegisterHost(t *testing.T) {
	a := open(t)
	buf := make([]byte, 4*MiB) // the test keeps it reachable until Free
	fill(buf, 42)
	h, err := a.registerHost(buf, hostRegisterPortable)
	noErr(t, err)
	d := alloc(t, a, 4*MiB)
	defer d.Free()
	s := newStream(t, a)
	defer s.Close()
	noErr(t, s.Copy(device.Copy{Dst: d, Src: buf, Width: int64(len(buf)), Height: 1}))
	noErr(t, s.Sync())
	got := make([]byte, len(buf))
	noErr(t, a.Read(got, d, 0))
	if !bytes.Equal(got, buf) {
		t.Fatal("registered buffer round trip differs")
	}
	noErr(t, h.Free())
	if err := s.Copy(device.Copy{Dst: d, Src: buf, Width: 1, Height: 1}); !errors.Is(err, errNotPinned) {
		t.Errorf("copy after unregister = %v; want errNotPinned", err)
	}
}

// TestAllocHostMapped makes a staging buffer the other way (mapped,
// huge-page advised, registered), copies from it to the device and back,
// and checks that Free unregisters it: a copy from it is refused after.
func TestAllocHostMapped(t *testing.T) {
	a := open(t)
	const n = 3*MiB + 5 // not a whole number of huge pages
	h, err := a.AllocHostMapped(n)
	noErr(t, err)
	buf := h.Bytes()
	if len(buf) != n || uintptr(unsafe.Pointer(unsafe.SliceData(buf)))%4096 != 0 {
		t.Fatalf("%d bytes at %p", len(buf), unsafe.SliceData(buf))
	}
	fill(buf, 43)
	d := alloc(t, a, n)
	defer d.Free()
	s := newStream(t, a)
	defer s.Close()
	noErr(t, s.Copy(device.Copy{Dst: d, Src: buf, Width: n, Height: 1}))
	noErr(t, s.Sync())
	got := make([]byte, n)
	noErr(t, a.Read(got, d, 0))
	if !bytes.Equal(got, buf) {
		t.Fatal("mapped buffer round trip differs")
	}
	src := buf[:1]
	noErr(t, h.Free())
	if err := s.Copy(device.Copy{Dst: d, Src: src, Width: 1, Height: 1}); !errors.Is(err, errNotPinned) {
		t.Errorf("copy after Free = %v; want errNotPinned", err)
	}
	if _, err := a.AllocHostMapped(0); !errors.Is(err, errInvalidSize) {
		t.Errorf("AllocHostMapped(0) = %v", err)
	}
}

// TestCopyDoesNotAllocate guards the hot path: enqueueing a linear or 2-D
// copy allocates nothing on the Go heap.
func TestCopyDoesNotAllocate(t *testing.T) {
	a := open(t)
	h := allocHost(t, a, MiB)
	defer h.Free()
	d := alloc(t, a, MiB)
	defer d.Free()
	s := newStream(t, a)
	defer s.Close()
	lin := device.Copy{Dst: d, Src: h.Bytes(), Width: 4 * KiB, Height: 1}
	rect := device.Copy{Dst: d, Src: h.Bytes(), Width: 100, Height: 50, SrcPitch: 300, DstPitch: 200}
	for name, c := range map[string]device.Copy{"linear": lin, "2-D": rect} {
		n := testing.AllocsPerRun(200, func() {
			if err := s.Copy(c); err != nil {
				t.Fatal(err)
			}
		})
		if n != 0 {
			t.Errorf("%s Copy allocates %.1f times per call", name, n)
		}
	}
	noErr(t, s.Sync())
}

// TestEventDoesNotAllocate guards the other per-chunk call: once the pool
// has an event, Record and Close allocate nothing, and Wait only the 8
// bytes of gorgonia's CurrentContext.
func TestEventDoesNotAllocate(t *testing.T) {
	a := open(t)
	s := newStream(t, a)
	defer s.Close()
	noErr(t, s.Sync()) // creates the pool's first event
	n := testing.AllocsPerRun(200, func() {
		ev := record(t, s)
		noErr(t, ev.Wait())
		noErr(t, ev.Close())
	})
	// Wait makes the context current with gorgonia's CurrentContext, which
	// allocates its 8-byte result; nothing else may allocate.
	if n > 1 {
		t.Errorf("Record, Wait and Close allocate %.1f times per round", n)
	}
}
