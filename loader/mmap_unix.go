//go:build unix

package loader

import (
	"errors"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// mmapFile maps size bytes of f read-only. An empty file maps to nil, since
// mmap refuses a zero length.
func mmapFile(f *os.File, size int64) ([]byte, error) {
	if size <= 0 || int64(int(size)) != size {
		return nil, nil
	}
	return unix.Mmap(int(f.Fd()), 0, int(size), unix.PROT_READ, unix.MAP_SHARED)
}

func munmap(b []byte) error { return unix.Munmap(b) }

// isEFAULT reports whether err is EFAULT ("bad address"): a write(2) whose
// source is mapped memory the file no longer backs.
func isEFAULT(err error) bool { return errors.Is(err, syscall.EFAULT) }
