package loader

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stload/stload/dtype"
)

// truncatedFile saves a file whose last tensor, "big", spans many pages,
// opens it mapped, and then truncates it to keep only the first page of
// data, as another process could. Reading "big" past that page touches
// memory the file no longer backs: a SIGBUS.
func truncatedFile(t *testing.T) (*File, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "shrinks.safetensors")
	big := bytes.Repeat([]byte{7}, 1<<20)
	err := SaveFile(path, map[string]Data{
		"a":   {DType: dtype.U8, Shape: []uint64{4}, Bytes: []byte{1, 2, 3, 4}},
		"big": {DType: dtype.U8, Shape: []uint64{1 << 10, 1 << 10}, Bytes: big},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if m, release, _ := f.Mapping(); m == nil {
		release()
		t.Skip("files are not mapped on this platform")
	} else {
		release()
	}
	if err := os.Truncate(path, dataOffset(f)+4096); err != nil {
		t.Fatal(err)
	}
	return f, path
}

// checkFault checks that err reports a fault on a truncated mapping: an
// I/O error naming the file and an offset in the part that was cut off.
func checkFault(t *testing.T, what string, err error, path string, from int64) {
	t.Helper()
	var e *Error
	switch {
	case err == nil:
		t.Fatalf("%s: no error reading past the end of a truncated file", what)
	case !errors.As(err, &e) || Kind(err) != "IoError":
		t.Fatalf("%s: %v (kind %s), want an I/O *Error", what, err, Kind(err))
	case e.File != path || e.Offset < from || !strings.Contains(e.Detail, "shrank"):
		t.Fatalf("%s: %v: want the file, an offset from %d and a detail saying the file shrank", what, err, from)
	}
}

// TestMappingTruncated reads a mapped file that another process truncated:
// every read that copies from the mapping must return an error, not crash
// the program with a fault.
func TestMappingTruncated(t *testing.T) {
	f, path := truncatedFile(t)
	big, err := f.Tensor("big")
	if err != nil {
		t.Fatal(err)
	}
	cut := dataOffset(f) + 4096 // the first byte no page backs any more, rounded up below
	buf := make([]byte, big.End-big.Begin)
	_, err = f.ReadAt(buf, big.Offset())
	checkFault(t, "ReadAt", err, path, cut)

	s, err := big.Slice(Range(512, 1024))
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Bytes()
	checkFault(t, "Slice.Bytes", err, path, cut)

	// The fault happens inside the writer: here, in the hash's code.
	h := sha256.New()
	n, err := s.WriteTo(h)
	checkFault(t, "Slice.WriteTo(sha256)", err, path, cut)
	if n != 0 {
		t.Errorf("WriteTo reported %d bytes written before the fault, want 0", n)
	}
	var out bytes.Buffer
	_, err = s.WriteTo(&out)
	checkFault(t, "Slice.WriteTo(bytes.Buffer)", err, path, cut)

	// The fault happens in the kernel, in write(2): EFAULT, which is the
	// source's fault, not the destination's ("dump --raw > file").
	dst, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	whole, err := big.Slice()
	if err != nil {
		t.Fatal(err)
	}
	_, err = whole.WriteTo(dst)
	checkFault(t, "Slice.WriteTo(*os.File)", err, path, cut)
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, pr)
	_, err = whole.WriteTo(pw)
	pw.Close()
	checkFault(t, "Slice.WriteTo(pipe)", err, path, cut)

	// Bytes before the cut still read, and the file still works.
	a, _ := f.Tensor("a")
	if b, err := a.Bytes(); err != nil || !bytes.Equal(b, []byte{1, 2, 3, 4}) {
		t.Errorf("tensor a: %v %v", b, err)
	}
	if _, err := io.ReadFull(io.NewSectionReader(f, a.Offset(), 4), make([]byte, 4)); err != nil {
		t.Errorf("reading before the cut: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// TestMappingTruncatedHeader parses the header of a mapped file again
// after it was truncated to nothing: the header read faults.
func TestMappingTruncatedHeader(t *testing.T) {
	f, path := truncatedFile(t)
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	err := error(f.parse(newConfig(nil)))
	var e *Error
	if !errors.As(err, &e) || Kind(err) != "IoError" || !strings.Contains(err.Error(), "shrank") {
		t.Fatalf("re-parsing a truncated mapping: %v (kind %s)", err, Kind(err))
	}
}
