package loader

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stload/stload/dtype"
)

// writerChild is the environment variable that makes the test binary a
// writer that CreateFile's a file, writes part of it, says "ready" and
// waits to be killed.
const writerChild = "STLOAD_TEST_WRITER_CHILD"

// bigSpecs are the tensors the killed writers write: 64 MiB.
var bigSpecs = []Spec{{Name: "w", DType: dtype.U8, Shape: []uint64{64 << 20}}}

func TestMain(m *testing.M) {
	if path := os.Getenv(writerChild); path != "" {
		w, err := CreateFile(path, bigSpecs, nil)
		if err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		w.Write(make([]byte, 8<<20))
		fmt.Println("ready")
		time.Sleep(time.Hour) // until killed
	}
	os.Exit(m.Run())
}

// temps lists the temporary files of target in its directory: named
// .BASE.tmp-DIGITS.
func temps(t *testing.T, target string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(filepath.Dir(target), "."+filepath.Base(target)+".tmp-*"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range m {
		digits := strings.TrimPrefix(filepath.Base(p), "."+filepath.Base(target)+".tmp-")
		if strings.Trim(digits, "0123456789") == "" {
			out = append(out, p)
		}
	}
	return out
}

// TestCreateFileIncompleteNamesTensor: closing a CreateFile writer that
// lacks bytes fails, names the first tensor not written in full and the
// file, and removes the temporary file.
func TestCreateFileIncompleteNamesTensor(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.safetensors")
	specs := []Spec{
		{Name: "a", DType: dtype.F32, Shape: []uint64{2}},
		{Name: "b", DType: dtype.F32, Shape: []uint64{2}},
		{Name: "c", DType: dtype.F32, Shape: []uint64{2}},
	}
	w, err := CreateFile(path, specs, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(temps(t, path)) != 1 {
		t.Fatal("no temporary file while writing")
	}
	w.Write(make([]byte, 8+3)) // a, and 3 bytes of b
	err = w.Close()
	var e *Error
	if !errors.As(err, &e) || e.Tensor != "b" || e.File != path || !strings.Contains(err.Error(), "only 3 of its 8 bytes") {
		t.Fatalf("Close: %v", err)
	}
	if got := temps(t, path); len(got) != 0 {
		t.Errorf("left behind: %v", got)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the target exists: %v", err)
	}
}
