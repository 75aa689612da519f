//go:build unix

package loader

import (
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// openRegular opens path for reading if it is a regular file. It opens
// without blocking and checks the type of what it opened, not of what the
// path named a moment before: opening a named pipe for reading would
// otherwise block until a writer comes, forever if none does.
func openRegular(path string) (*os.File, error) {
	var fd int
	var err error
	for {
		fd, err = unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return nil, &Error{File: path, Cause: &fs.PathError{Op: "open", Path: path, Err: err}}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, &Error{File: path, Cause: &fs.PathError{Op: "stat", Path: path, Err: err}}
	}
	if err := notRegular(path, fileMode(uint32(st.Mode))); err != nil {
		unix.Close(fd)
		return nil, err
	}
	// Reads of a regular file never block; clear the flag all the same,
	// so the descriptor is what os.Open would give.
	if err := unix.SetNonblock(fd, false); err != nil {
		unix.Close(fd)
		return nil, &Error{File: path, Cause: err}
	}
	return os.NewFile(uintptr(fd), path), nil
}

// fileMode returns the type bits of a stat mode as an fs.FileMode.
func fileMode(m uint32) fs.FileMode {
	switch m & unix.S_IFMT {
	case unix.S_IFREG:
		return 0
	case unix.S_IFDIR:
		return fs.ModeDir
	case unix.S_IFIFO:
		return fs.ModeNamedPipe
	case unix.S_IFCHR:
		return fs.ModeDevice | fs.ModeCharDevice
	case unix.S_IFBLK:
		return fs.ModeDevice
	case unix.S_IFSOCK:
		return fs.ModeSocket
	}
	return fs.ModeIrregular
}

// lockTemp takes the lock that marks f, a temporary file of CreateFile,
// as being written, and reports whether f is still there: another
// CreateFile that found it unlocked, in the moment between its creation
// and the lock, takes it for a stale one and removes it. Where the file
// system has no locks, f stays unlocked, and stale files stay too.
func lockTemp(f *os.File) bool {
	var err error
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return true
	}
	held, err := f.Stat()
	if err != nil {
		return true
	}
	named, err := os.Lstat(f.Name())
	return err == nil && os.SameFile(held, named)
}

// removeIfUnlocked removes the temporary file at path if no writer holds
// it locked (lockTemp), and if it still is the file it locked.
func removeIfUnlocked(path string) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NONBLOCK|unix.O_NOFOLLOW, 0)
	if err != nil {
		return
	}
	defer unix.Close(fd)
	if unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB) != nil {
		return // being written, or no locks here
	}
	var held, named unix.Stat_t
	if unix.Fstat(fd, &held) == nil && unix.Lstat(path, &named) == nil && held.Dev == named.Dev && held.Ino == named.Ino {
		unix.Unlink(path)
	}
}
