//go:build unix

package loader

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stload/stload/dtype"
)

// TestCreateFileMode: a new file gets the mode os.Create gives, 0666 less
// the umask; a replaced file keeps its mode.
func TestCreateFileMode(t *testing.T) {
	old := syscall.Umask(0o027)
	defer syscall.Umask(old)
	dir := t.TempDir()
	one := map[string]Data{"x": {DType: dtype.U8, Shape: []uint64{1}, Bytes: []byte{1}}}
	path := filepath.Join(dir, "new.safetensors")
	if err := SaveFile(path, one, nil); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o640 {
		t.Errorf("new file: mode %v, want 0640 (0666 less the umask 027)", fi.Mode().Perm())
	}
	for _, mode := range []fs.FileMode{0o600, 0o755, 0o444} {
		path := filepath.Join(dir, fmt.Sprintf("old%o.safetensors", mode))
		if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
			t.Fatal(err)
		}
		os.Chmod(path, mode)
		// While it is written, the new file is no more open than the old.
		w, err := CreateFile(path, []Spec{{Name: "x", DType: dtype.U8, Shape: []uint64{1}}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if tmp := temps(t, path); len(tmp) != 1 {
			t.Fatalf("temporary files %v", tmp)
		} else if fi, _ := os.Stat(tmp[0]); fi.Mode().Perm()&^mode != 0 {
			t.Errorf("replacing a %v file: the temporary file has mode %v", mode, fi.Mode().Perm())
		}
		w.Close()
		if err := SaveFile(path, one, nil); err != nil {
			t.Fatal(err)
		}
		if fi, _ := os.Stat(path); fi.Mode().Perm() != mode {
			t.Errorf("replaced file: mode %v, want its old %v", fi.Mode().Perm(), mode)
		}
	}
}

// startWriter starts a child writing path and waits until it has written
// part of the file.
func startWriter(t *testing.T, path string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), writerChild+"="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, _ := bufio.NewReader(out).ReadString('\n')
	if line != "ready\n" {
		t.Fatalf("writer child: %q", line)
	}
	return cmd
}

// TestCreateFileCleansKilledWriters kills a writer in the middle of a
// CreateFile (SIGKILL: no chance to clean up), while another writer of the
// same target is alive: the next CreateFile of that target removes the
// killed writer's temporary file, leaves the live writer's alone, and
// writes the target.
func TestCreateFileCleansKilledWriters(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "model.safetensors")
	other := filepath.Join(dir, "model.safetensors.tmp-1.safetensors") // its temps match a looser pattern
	killed := startWriter(t, target)
	stale := temps(t, target)
	live := startWriter(t, target)
	startWriter(t, other)
	killed.Process.Signal(syscall.SIGKILL)
	killed.Wait()
	all := temps(t, target)
	if len(stale) != 1 || len(all) != 2 {
		t.Fatalf("temporary files: %v of the killed writer, %v in all", stale, all)
	}
	liveTemp := all[0]
	if liveTemp == stale[0] {
		liveTemp = all[1]
	}
	data := bytes.Repeat([]byte{9}, 1<<10)
	err := SaveFile(target, map[string]Data{"x": {DType: dtype.U8, Shape: []uint64{1 << 10}, Bytes: data}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale[0]); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the killed writer's %s is still there: %v", stale[0], err)
	}
	if _, err := os.Stat(liveTemp); err != nil {
		t.Errorf("the live writer's temporary file was removed: %v", err)
	}
	if got := temps(t, other); len(got) != 1 {
		t.Errorf("another target's live temporary files: %v", got)
	}
	f, err := Open(target)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	x, _ := f.Tensor("x")
	if b, _ := x.Bytes(); !bytes.Equal(b, data) {
		t.Error("the target holds the wrong bytes")
	}
	live.Process.Kill()
}
