// Package tensorindex finds tensors by name across the shards of a
// checkpoint without a map keyed by name: a tensor is a file and its
// position in that file ([loader.File.TensorAt]), and the names stay in
// the files' headers.
package tensorindex

import (
	"sort"

	"github.com/stload/stload/loader"
	"github.com/stload/stload/loader/internal/nameidx"
)

// Index finds the tensors of a list of files by name, with one table of
// 4-byte global positions (a tensor's position among all the files'
// tensors, file after file).
type Index struct {
	files  []*loader.File
	starts []int // global position of each file's first tensor, then the total
	names  nameidx.Index
}

// Dup is a name found in two files: the file of its first occurrence and
// that of the second, as indexes into the files given to New.
type Dup struct {
	Name          string
	First, Second int
}

// New indexes the tensors of files. A name in more than one file is kept
// for its first file, and every such second occurrence is reported.
func New(files []*loader.File) (*Index, []Dup) {
	x := &Index{files: files, starts: make([]int, len(files)+1)}
	for i, f := range files {
		x.starts[i+1] = x.starts[i] + f.Len()
	}
	x.names = nameidx.Make(x.starts[len(files)])
	var dups []Dup
	for i, f := range files {
		for p := range f.Len() {
			name := f.TensorAt(p).Name
			if g, dup := x.names.Insert(name, x.starts[i]+p, x.nameAt); dup {
				dups = append(dups, Dup{Name: name, First: x.file(g), Second: i})
			}
		}
	}
	return x, dups
}

// Find returns the file (an index into the files given to New) that holds
// the named tensor, and whether there is one.
func (x *Index) Find(name string) (file int, ok bool) {
	g, ok := x.names.Find(name, x.nameAt)
	if !ok {
		return 0, false
	}
	return x.file(g), true
}

// file returns the file of global position g.
func (x *Index) file(g int) int { return sort.SearchInts(x.starts[1:], g+1) }

// nameAt returns the name of the tensor at global position g.
func (x *Index) nameAt(g int) string {
	f := x.file(g)
	return x.files[f].TensorAt(g - x.starts[f]).Name
}
