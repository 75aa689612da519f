//go:build !unix

package loader

import "os"

// openRegular opens path for reading if it is a regular file.
func openRegular(path string) (*os.File, error) {
	osf, err := os.Open(path)
	if err != nil {
		return nil, &Error{File: path, Cause: err}
	}
	fi, err := osf.Stat()
	if err == nil {
		err = notRegular(path, fi.Mode())
	}
	if err != nil {
		osf.Close()
		if e, ok := err.(*Error); ok {
			return nil, e
		}
		return nil, &Error{File: path, Cause: err}
	}
	return osf, nil
}

// lockTemp would lock a temporary file of CreateFile; this platform has
// no flock, so none is locked.
func lockTemp(*os.File) bool { return true }

// removeIfUnlocked would remove a stale temporary file; without locks a
// live writer's file cannot be told from a stale one, so none is removed.
func removeIfUnlocked(string) {}
