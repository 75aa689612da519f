//go:build unix

package checkpoint

import (
	"os"

	"golang.org/x/sys/unix"
)

// renamed returns f under another name: a new *os.File for a duplicate of
// its descriptor, the same open file, and closes f. Should duplicating
// fail, f keeps its name.
func renamed(f *os.File, name string) *os.File {
	fd, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return f
	}
	f.Close()
	return os.NewFile(uintptr(fd), name)
}
