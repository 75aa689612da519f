package loader

import (
	"bufio"
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
)

// target is the file a Writer from CreateFile writes: a temporary file in
// the target's directory, renamed over it on Close.
type target struct {
	path string
	tmp  *os.File
	bw   *bufio.Writer
}

// CreateFile starts writing a safetensors file at path, streaming like
// [NewWriter]. Nothing appears at path until [Writer.Close] commits the
// complete file; a failed or incomplete write (or a crash) leaves any
// existing file there untouched. Errors name path.
//
// The bytes go to a temporary file, .BASE.tmp-DIGITS beside path, created
// as os.Create creates files (mode 0666 less the umask; the replaced
// file's mode, if any) and locked (flock) while it is written. CreateFile first removes such files of the same
// path that no one holds locked: those of an earlier write that was
// killed, which can be as large as the file.
func CreateFile(path string, tensors []Spec, metadata map[string]string) (*Writer, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	removeStale(dir, base)
	// A file that replaces another is never readable by more users than
	// that one, not even while it is written.
	perm := fs.FileMode(0o666)
	if fi, err := os.Stat(path); err == nil {
		perm = fi.Mode().Perm()
	}
	tmp, err := createTemp(dir, base, perm)
	if err != nil {
		return nil, &Error{File: path, Detail: "creating a temporary file", Cause: err}
	}
	out := &target{path: path, tmp: tmp, bw: bufio.NewWriterSize(tmp, copyBufSize)}
	w, err := NewWriter(directWriter{out.bw, tmp}, tensors, metadata)
	if err != nil {
		return nil, out.finish(err)
	}
	w.out = out
	return w, nil
}

// tempPrefix is the start of the names of the temporary files of a
// target named base; the rest is decimal digits.
func tempPrefix(base string) string { return "." + base + ".tmp-" }

// isTemp reports whether name is that of a temporary file of base.
func isTemp(name, base string) bool {
	digits, ok := strings.CutPrefix(name, tempPrefix(base))
	return ok && digits != "" && strings.Trim(digits, "0123456789") == ""
}

// createTemp creates and locks a new temporary file for base in dir, with
// mode perm less the umask: for a new file 0666, as os.Create gives
// (os.CreateTemp's 0600 would make every output private).
func createTemp(dir, base string, perm fs.FileMode) (*os.File, error) {
	for range 100 {
		name := filepath.Join(dir, tempPrefix(base)+strconv.FormatUint(uint64(rand.Uint32()), 10))
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, perm)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if lockTemp(f) {
			return f, nil
		}
		f.Close() // another CreateFile took it for a stale one and removed it
	}
	return nil, &fs.PathError{Op: "create", Path: filepath.Join(dir, tempPrefix(base)+"*"), Err: fs.ErrExist}
}

// removeStale removes the temporary files of base in dir that no writer
// holds locked. Failures are ignored: the files are only garbage.
func removeStale(dir, base string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if e.Type().IsRegular() && isTemp(e.Name(), base) {
			removeIfUnlocked(filepath.Join(dir, e.Name()))
		}
	}
}

// directWriter gathers small writes (the header, small tensors) in its
// buffer but hands a write of a buffer's size or more straight to the
// file. bufio.Writer alone would first copy the start of such a write
// into its buffer, to fill it, whenever the buffer is not empty.
type directWriter struct {
	bw *bufio.Writer
	f  *os.File
}

func (d directWriter) Write(p []byte) (int, error) {
	if len(p) < d.bw.Size() {
		return d.bw.Write(p)
	}
	if err := d.bw.Flush(); err != nil {
		return 0, err
	}
	return d.f.Write(p)
}

// finish commits the temporary file when err is nil, and removes it
// otherwise (or when committing fails). It returns the error, naming the
// target file.
func (t *target) finish(err error) error {
	if err == nil {
		err = t.commit()
	}
	if err != nil {
		os.Remove(t.tmp.Name())
		t.tmp.Close()
		if e, ok := err.(*Error); ok && (e.File == "" || e.File == t.path) {
			c := *e // e may have been returned by Write already
			c.File = t.path
			c.Detail += "; nothing was saved"
			return &c
		}
		return &Error{File: t.path, Detail: "nothing was saved", Cause: err}
	}
	syncDir(filepath.Dir(t.path))
	return nil
}

// commit flushes and syncs the temporary file, gives it the mode of the
// file it replaces, if any, and renames it over the target. The file is
// closed, and so unlocked, only after the rename, so that no other
// CreateFile can take it for a stale one and remove it first; Windows
// cannot rename an open file, but has no such lock either.
func (t *target) commit() error {
	err := t.bw.Flush()
	if err == nil {
		err = t.tmp.Sync()
	}
	if fi, serr := os.Stat(t.path); err == nil && serr == nil {
		err = t.tmp.Chmod(fi.Mode().Perm())
	}
	if runtime.GOOS == "windows" && err == nil {
		err = t.tmp.Close()
	}
	if err == nil {
		err = os.Rename(t.tmp.Name(), t.path)
	}
	if err == nil {
		t.tmp.Close() // the data is synced: a failed close loses nothing
	}
	return err
}

// syncDir makes a rename durable. Errors are ignored: some file systems
// cannot sync directories, and the data itself is already synced.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
