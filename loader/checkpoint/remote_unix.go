//go:build unix

package checkpoint

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// renameFile returns an *os.File for f's open file whose Name is name
// (a URL, for the file a download fell back to), and closes f: loader
// maps an *os.File and names its errors after the file's Name. The file
// is the same open description, duplicated (close-on-exec).
func renameFile(f *os.File, name string) (*os.File, error) {
	raw, err := f.SyscallConn()
	if err != nil {
		return f, err
	}
	fd := -1
	cerr := raw.Control(func(old uintptr) { fd, err = unix.FcntlInt(old, unix.F_DUPFD_CLOEXEC, 0) })
	if cerr != nil || err != nil {
		return f, &os.PathError{Op: "dup", Path: f.Name(), Err: errors.Join(cerr, err)}
	}
	f.Close()
	return os.NewFile(uintptr(fd), name), nil
}
