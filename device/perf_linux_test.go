//go:build linux

package device_test

import (
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/stload/stload/device"
	"github.com/stload/stload/dtype"
	"github.com/stload/stload/loader"
)

// fadviseDontNeed writes f's dirty pages and asks the kernel to drop its
// cached ones.
func fadviseDontNeed(f *os.File) error {
	if err := unix.Fdatasync(int(f.Fd())); err != nil {
		return err
	}
	return unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
}

// TestDirectIOFallback plays file systems without O_DIRECT: one whose
// open refuses the flag, and one whose reads fail with EINVAL. Both loads
// must fall back to the page cache and place every byte right.
func TestDirectIOFallback(t *testing.T) {
	f := writeFile(t, t.TempDir(), "f.safetensors", 7, coldSpecs())
	if !device.DirectWorks(f) {
		t.Skip("the file system of the test's temporary directory takes no O_DIRECT reads")
	}
	var reads atomic.Int64
	for _, tt := range []struct {
		name  string
		hooks device.DirectHooks
	}{
		{"open fails", device.DirectHooks{Cold: true, Open: func(string) (int, error) { return -1, syscall.EINVAL }}},
		{"reads fail", device.DirectHooks{Cold: true, Pread: func(fd int, p []byte, off int64) (int, error) {
			if reads.Add(1) == 1 {
				return syscall.Pread(fd, p, off) // the probe at open passes
			}
			return 0, syscall.EINVAL
		}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := install(t, 1, 1<<30, 100*time.Microsecond)
			set := load(t, []*loader.File{f}, device.On(s.Device(0)), device.WithDirectHooks(tt.hooks))
			checkSet(t, set, f)
			if d := set.Stats().Direct; d != 0 {
				t.Errorf("%d bytes read with O_DIRECT", d)
			}
		})
	}
	if reads.Load() < 2 {
		t.Errorf("the failing reads were never tried (%d calls)", reads.Load())
	}
}

// TestDirectIOEvicted drops a file from the page cache and loads it with
// the defaults: its ranges must be read with O_DIRECT, the bytes right.
// It skips where the kernel keeps the pages (tmpfs).
func TestDirectIOEvicted(t *testing.T) {
	w := writeFile(t, t.TempDir(), "e.safetensors", 8, append(coldSpecs(), sp("zz.large", dtype.U8, 12<<20)))
	if !device.DirectWorks(w) {
		t.Skip("no O_DIRECT on this file system")
	}
	w.Close() // mapped pages stay cached: unmap them
	if !evict(t, w.Name()) {
		t.Skip("the page cache kept the file (tmpfs?)")
	}
	f, err := loader.Open(w.Name())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := install(t, 1, 1<<30, 0)
	set := load(t, []*loader.File{f}, device.On(s.Device(0)))
	if set.Stats().Direct == 0 {
		t.Error("an evicted file was read through the page cache")
	}
	checkSet(t, set, f)
}

// evict syncs path and asks the kernel to drop its pages, then reports
// whether fewer than a tenth remain cached (mincore over a mapping of its
// own, which reads nothing).
func evict(t *testing.T, path string) bool {
	t.Helper()
	fd, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fd.Close()
	if err := fadviseDontNeed(fd); err != nil {
		t.Skip(err)
	}
	st, err := fd.Stat()
	if err != nil {
		t.Fatal(err)
	}
	m, err := unix.Mmap(int(fd.Fd()), 0, int(st.Size()), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(m)
	vec := make([]byte, (len(m)+device.PageSize-1)/device.PageSize)
	if err := device.Mincore(unsafe.Slice(unsafe.SliceData(m), len(vec)*device.PageSize), vec); err != nil {
		t.Skip(err)
	}
	in := 0
	for _, v := range vec {
		in += int(v & 1)
	}
	return in*10 < len(vec)
}
