//go:build unix

package loader

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// openSoon runs Open(path) and fails the test if it has not returned
// within a generous deadline: the inputs given to it must fail at once,
// and one that blocks would otherwise hang the test run.
func openSoon(t *testing.T, path string) error {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		f, err := Open(path)
		if f != nil {
			f.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatalf("Open(%s) blocks", path)
		return nil
	}
}

// TestOpenNotRegular opens what is not a regular file: Open must fail at
// once with an I/O error that says what the path is, and never block (as
// opening a named pipe for reading does until a writer comes).
func TestOpenNotRegular(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "pipe.safetensors")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("no named pipes here: %v", err)
	}
	tests := []struct{ path, want string }{
		{fifo, "not a regular file (a named pipe)"},
		{"/dev/null", "not a regular file (a character device)"},
		{dir, "is a directory: open checkpoints with checkpoint.Open"},
	}
	for _, tt := range tests {
		err := openSoon(t, tt.path)
		var e *Error
		if !errors.As(err, &e) || Kind(err) != "IoError" || e.File != tt.path || err.Error() != tt.path+": "+tt.want {
			t.Errorf("Open(%s): %v (kind %s), want %q", tt.path, err, Kind(err), tt.want)
		}
	}
	// NewReader given such an *os.File refuses it too, before any read.
	d, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := NewReader(d, 4096); Kind(err) != "IoError" || !strings.Contains(err.Error(), "checkpoint.Open") {
		t.Errorf("NewReader(directory): %v", err)
	}
	// A missing file: the operating system's error, the path said once.
	missing := filepath.Join(dir, "nope.safetensors")
	err = openSoon(t, missing)
	if !errors.Is(err, fs.ErrNotExist) || strings.Count(err.Error(), missing) != 1 {
		t.Errorf("Open(missing): %v", err)
	}
}

// TestOpenURL: Open of a URL says to use checkpoint.Open, and never
// repeats the URL, which may hold a password or a token.
func TestOpenURL(t *testing.T) {
	for _, path := range []string{
		"http://127.0.0.1:1/m.safetensors",
		"HTTPS://alice:s3cret@host/dir/m.safetensors?token=T0KEN#x",
		"https://cdn/exp=1~hmac=SECRETSIG/m.safetensors",
	} {
		_, err := Open(path)
		var e *Error
		if !errors.As(err, &e) || !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "checkpoint.Open") {
			t.Errorf("Open(%q) = %v; want a not-exist *Error that names checkpoint.Open", path, err)
		}
		if strings.Contains(err.Error(), "://") {
			t.Errorf("Open(%q): %q repeats the URL", path, err)
		}
	}
}
