//go:build !unix

package checkpoint

import "os"

// Open flags that this system does without.
const (
	oNonblock = 0
	oNofollow = 0
)

// renamed returns f: without a way to duplicate its descriptor, it keeps
// the name its os.Root gave it.
func renamed(f *os.File, _ string) *os.File { return f }

// lockFile reports that there are no file locks here: saves then neither
// remove leftovers (they cannot tell them from a running save's files)
// nor report them.
func lockFile(*os.File, bool, bool) error { return errNoLocks }

// stamp identifies a version of a file, as far as this system tells.
type stamp struct {
	size, mtime int64
}

func stampOf(f *os.File) (stamp, error) {
	fi, err := f.Stat()
	if err != nil {
		return stamp{}, err
	}
	return stamp{size: fi.Size(), mtime: fi.ModTime().UnixNano()}, nil
}

func stampPath(path string) (stamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return stamp{}, err
	}
	return stamp{size: fi.Size(), mtime: fi.ModTime().UnixNano()}, nil
}
