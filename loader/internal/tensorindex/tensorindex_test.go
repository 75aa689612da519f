package tensorindex

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/stload/stload/dtype"
	"github.com/stload/stload/loader"
)

// file returns a file of one-byte tensors of the given names.
func file(t *testing.T, names ...string) *loader.File {
	t.Helper()
	specs := make([]loader.Spec, len(names))
	for i, n := range names {
		specs[i] = loader.Spec{Name: n, DType: dtype.U8, Shape: []uint64{1}}
	}
	var buf bytes.Buffer
	w, err := loader.NewWriter(&buf, specs, nil)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(make([]byte, len(names)))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := loader.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestIndex finds tensors of one file and of several, empty ones among
// them, and reports every name in two files.
func TestIndex(t *testing.T) {
	one, dups := New([]*loader.File{file(t, "a", "b")})
	if f, ok := one.Find("b"); !ok || f != 0 || dups != nil {
		t.Fatalf("one file: b in %d, %v; dups %v", f, ok, dups)
	}
	files := []*loader.File{file(t, "a", "b"), file(t), file(t, "c", "d", "e")}
	x, dups := New(files)
	if dups != nil {
		t.Fatalf("dups %v", dups)
	}
	for name, want := range map[string]int{"a": 0, "b": 0, "c": 2, "e": 2} {
		if f, ok := x.Find(name); !ok || f != want {
			t.Errorf("%s in %d, %v; want %d", name, f, ok, want)
		}
	}
	if _, ok := x.Find("z"); ok {
		t.Error("found a missing name")
	}
	files = append(files, file(t, "b", "x", "e"))
	x, dups = New(files)
	if want := []Dup{{"b", 0, 3}, {"e", 2, 3}}; !reflect.DeepEqual(dups, want) {
		t.Errorf("duplicates: %v, want %v", dups, want)
	}
	if f, ok := x.Find("e"); !ok || f != 2 {
		t.Errorf("a duplicate is its first file's: %d", f)
	}
}
