//go:build linux

package bench

import (
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Evict drops the file's clean pages from the page cache with
// posix_fadvise(POSIX_FADV_DONTNEED), after writing any dirty ones, as a
// user without root can (vllm#52462 did the same), and returns the
// fraction of its pages still cached. Pages mapped by a process stay, so
// the file must not be open through a mapping meanwhile.
func Evict(path string) (float64, error) {
	f, err := os.Open(path)
	if err != nil {
		return -1, err
	}
	defer f.Close()
	if err := unix.Fdatasync(int(f.Fd())); err != nil {
		return -1, err
	}
	// Twice: pages still in per-CPU LRU batches escape the first call.
	for range 2 {
		if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
			return -1, err
		}
	}
	return residency(path), nil
}

// directFile opens path for O_DIRECT reads.
func directFile(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY|unix.O_DIRECT, 0)
}

// alignedBuffers returns n page-aligned buffers of size bytes (a multiple
// of the page size), touched, for O_DIRECT reads.
func alignedBuffers(n, size int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		raw := make([]byte, size+4096)
		skip := int(4096-uintptrOf(raw)%4096) % 4096
		out[i] = raw[skip : skip+size : skip+size]
		touch(out[i])
	}
	return out
}

func uintptrOf(b []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b))) }
