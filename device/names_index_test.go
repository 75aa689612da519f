package device

import (
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stload/stload/dtype"
	"github.com/stload/stload/loader"
)

// namesFile saves a file of U8 scalars with the given names and opens it.
func namesFile(t testing.TB, names ...string) *loader.File {
	t.Helper()
	data := map[string]loader.Data{}
	for _, n := range names {
		data[n] = loader.Data{DType: dtype.U8, Shape: []uint64{}, Bytes: []byte{1}}
	}
	path := filepath.Join(t.TempDir(), "f.safetensors")
	if err := loader.SaveFile(path, data, nil); err != nil {
		t.Fatal(err)
	}
	f, err := loader.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestTensorNames(t *testing.T) {
	a := namesFile(t, "z", "m", "a")
	b := namesFile(t, "b", "y")
	x, dup := indexNames([]*loader.File{a, b})
	if dup != nil || x.len() != 5 {
		t.Fatalf("indexNames = %v, %v", x, dup)
	}
	files := []*loader.File{a, b}
	for _, name := range []string{"z", "m", "a", "b", "y"} {
		fi, pos, ok := x.find(name)
		if !ok || files[fi].TensorAt(pos).Name != name {
			t.Errorf("find(%q) = %d, %d, %v", name, fi, pos, ok)
		}
	}
	for _, name := range []string{"", "c", "zz", "A"} {
		if _, _, ok := x.find(name); ok {
			t.Errorf("find(%q) found a tensor", name)
		}
	}
	var none *tensorNames
	if _, _, ok := none.find("a"); ok || none.len() != 0 {
		t.Error("a nil index finds something")
	}
	empty, dup := indexNames(nil)
	if dup != nil || empty.len() != 0 {
		t.Errorf("no files: %v, %v", empty, dup)
	}
}

func TestTensorNamesDuplicate(t *testing.T) {
	a := namesFile(t, "w", "shared")
	b := namesFile(t, "v")
	c := namesFile(t, "shared", "u")
	x, dup := indexNames([]*loader.File{a, b, c})
	if x != nil || dup == nil || *dup != (duplicate{name: "shared", first: 0, second: 2}) {
		t.Fatalf("indexNames = %v, %+v; want shared in files 0 and 2", x, dup)
	}
}

// TestTensorNamesOneFile: one file is indexed on the first lookup, which
// concurrent lookups share.
func TestTensorNamesOneFile(t *testing.T) {
	f := namesFile(t, "c", "a", "b")
	x, dup := indexNames([]*loader.File{f})
	if dup != nil || x.at != nil {
		t.Fatalf("indexNames of one file = %v, %v; want no table yet", x.at, dup)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for _, name := range []string{"a", "b", "c"} {
				if fi, pos, ok := x.find(name); !ok || fi != 0 || f.TensorAt(pos).Name != name {
					t.Errorf("find(%q) = %d, %d, %v", name, fi, pos, ok)
				}
			}
		})
	}
	wg.Wait()
}

// BenchmarkTensorNames indexes two files of 10,000 tensors and looks every
// name up once.
func BenchmarkTensorNames(b *testing.B) {
	var files []*loader.File
	var all []string
	for k := range 2 {
		names := make([]string, 10000)
		for i := range names {
			names[i] = fmt.Sprintf("model.layers.%d.mlp.experts.%d.weight", k*1000+i/64, i%64)
		}
		files = append(files, namesFile(b, names...))
		all = append(all, names...)
	}
	b.ResetTimer()
	for b.Loop() {
		x, _ := indexNames(files)
		for _, name := range all {
			x.find(name)
		}
	}
}
