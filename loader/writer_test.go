package loader

import (
	"bytes"
	"encoding/binary"
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

// failAfter is a writer that fails once it has taken n bytes.
type failAfter struct{ n int }

func (f *failAfter) Write(p []byte) (int, error) {
	if len(p) > f.n {
		k := f.n
		f.n = 0
		return k, errors.New("disk full")
	}
	f.n -= len(p)
	return len(p), nil
}

// TestWriterLargeHeader writes headers larger than the piece a header is
// written in, which are encoded twice (to measure, then to write): the
// bytes are those of one encoding, the file reads back, and a writer that
// fails partway through the header fails NewWriter.
func TestWriterLargeHeader(t *testing.T) {
	for _, n := range []int{1, 700, 5000} {
		specs := make([]Spec, n)
		for i := range specs {
			specs[i] = Spec{Name: fmt.Sprintf("layers.%d.w\t\"%d", i, i), DType: dtype.All()[i%len(dtype.All())], Shape: []uint64{uint64(i % 3), 8}}
		}
		meta := map[string]string{"format": "pt", "long": strings.Repeat("é", 40<<10)}
		var out strings.Builder
		w, err := NewWriter(&out, specs, meta)
		if err != nil {
			t.Fatal(err)
		}
		var once []byte // one encoding, gathered whole
		sink := &headerSink{buf: make([]byte, 8), emit: func(p []byte) error { once = append(once, p...); return nil }}
		if err := encodeHeader(sink, w.order, meta); err != nil {
			t.Fatal(err)
		}
		sink.flush()
		got := []byte(out.String())
		size := binary.LittleEndian.Uint64(got)
		if int(size) != len(got)-8 || size%8 != 0 || !bytes.Equal(bytes.TrimRight(got[8:], " "), once[8:]) {
			t.Fatalf("%d tensors: header of %d bytes (prefix %d) differs from one encoding of %d", n, len(got)-8, size, len(once)-8)
		}
		for _, s := range w.Tensors() {
			w.Write(make([]byte, specSize(s)))
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		f, err := NewReader(strings.NewReader(out.String()), int64(out.Len()))
		if err != nil {
			t.Fatalf("%d tensors: reading back: %v", n, err)
		}
		if f.Len() != n || f.Metadata()["long"] != meta["long"] {
			t.Errorf("%d tensors: read back %d", n, f.Len())
		}
		_, err = NewWriter(&failAfter{n: 100 << 10}, specs, meta)
		if want := len(got) > 100<<10; (err != nil) != want || err != nil && !strings.Contains(err.Error(), "disk full") {
			t.Errorf("%d tensors: a write failing at 100 KiB: %v", n, err)
		}
	}
}
