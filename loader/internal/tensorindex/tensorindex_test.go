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
// them, and reports names in two files.
func TestIndex(t *testing.T) {
	var none *Index
	if _, _, ok := none.Find("a"); ok || none.Len() != 0 {
		t.Fatal("a nil Index finds a name")
	}
	one, dups := New([]*loader.File{file(t, "a", "b")}, true)
	if f, p, ok := one.Find("b"); !ok || f != 0 || p != 1 || dups != nil || one.Len() != 2 {
		t.Fatalf("one file: b at %d/%d, %v; dups %v", f, p, ok, dups)
	}
	files := []*loader.File{file(t, "a", "b"), file(t), file(t, "c", "d", "e")}
	x, dups := New(files, false)
	if dups != nil || x.Len() != 5 {
		t.Fatalf("dups %v, Len %d", dups, x.Len())
	}
	for name, want := range map[string][2]int{"a": {0, 0}, "b": {0, 1}, "c": {2, 0}, "e": {2, 2}} {
		if f, p, ok := x.Find(name); !ok || f != want[0] || p != want[1] {
			t.Errorf("%s at %d/%d, %v; want %v", name, f, p, ok, want)
		}
	}
	if _, _, ok := x.Find("z"); ok {
		t.Error("found a missing name")
	}
	files = append(files, file(t, "b", "x", "e"))
	if x, dups = New(files, false); x != nil || !reflect.DeepEqual(dups, []Dup{{"b", 0, 3}}) {
		t.Errorf("first duplicate: %v, %v", x, dups)
	}
	x, dups = New(files, true)
	if want := []Dup{{"b", 0, 3}, {"e", 2, 3}}; !reflect.DeepEqual(dups, want) {
		t.Errorf("all duplicates: %v, want %v", dups, want)
	}
	if f, p, ok := x.Find("e"); !ok || f != 2 || p != 2 {
		t.Errorf("a duplicate is its first file's: %d/%d", f, p)
	}
}
