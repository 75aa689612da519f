//go:build unix

package checkpoint

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Open flags: oNonblock makes opening a named pipe return at once instead
// of waiting for a writer (it changes nothing for a regular file), and
// oNofollow refuses a symbolic link where the protocol's own files are.
const (
	oNonblock = unix.O_NONBLOCK
	oNofollow = unix.O_NOFOLLOW
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

// lockFile takes an flock(2) on f, exclusive or shared, waiting for it or
// not. It fails with errLocked when another open file holds a conflicting
// lock and wait is false, and with errNoLocks when the file system has no
// such locks (some network file systems).
func lockFile(f *os.File, exclusive, wait bool) error {
	how := unix.LOCK_SH
	if exclusive {
		how = unix.LOCK_EX
	}
	if !wait {
		how |= unix.LOCK_NB
	}
	for {
		err := unix.Flock(int(f.Fd()), how)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EWOULDBLOCK):
			return errLocked
		}
		return fmt.Errorf("%w: %w", errNoLocks, err)
	}
}

// stamp identifies a version of a file: a rename over it, or a rename
// away and back (which changes its inode's change time), gives another.
type stamp struct {
	dev, ino    uint64
	size, ctime int64
}

// stampOf returns the stamp of the open file f.
func stampOf(f *os.File) (stamp, error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return stamp{}, err
	}
	return stampFrom(&st), nil
}

// stampPath returns the stamp of the file at path, following links.
func stampPath(path string) (stamp, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return stamp{}, err
	}
	return stampFrom(&st), nil
}

func stampFrom(st *unix.Stat_t) stamp {
	return stamp{dev: uint64(st.Dev), ino: uint64(st.Ino), size: st.Size, ctime: st.Ctim.Nano()}
}
