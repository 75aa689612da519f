// Package tensorindex finds tensors by name across several safetensors
// files (the shards of a checkpoint, the files of a load) without a map
// keyed by name: a tensor is a file and its position in that file
// ([loader.File.TensorAt]), and the names stay in the files' headers.
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
// for its first file and reported in dups (all of them when all is set,
// else the first only, which New then stops at, returning a nil Index).
func New(files []*loader.File, all bool) (*Index, []Dup) {
	x := &Index{files: files, starts: make([]int, len(files)+1)}
	for i, f := range files {
		x.starts[i+1] = x.starts[i] + f.Len()
	}
	x.names = nameidx.Make(x.Len())
	var dups []Dup
	for i, f := range files {
		for p := range f.Len() {
			name := f.TensorAt(p).Name
			g, dup := x.names.Insert(name, x.starts[i]+p, x.nameAt)
			if !dup {
				continue
			}
			first, _ := x.At(g)
			dups = append(dups, Dup{Name: name, First: first, Second: i})
			if !all {
				return nil, dups
			}
		}
	}
	return x, dups
}

// Len returns the number of tensors in all the files (0 for a nil Index).
func (x *Index) Len() int {
	if x == nil {
		return 0
	}
	return x.starts[len(x.starts)-1]
}

// Find returns the file (an index into the files given to New) and the
// position in it of the named tensor, and whether there is one (never,
// in a nil Index).
func (x *Index) Find(name string) (file, pos int, ok bool) {
	if x == nil {
		return 0, 0, false
	}
	g, ok := x.names.Find(name, x.nameAt)
	if !ok {
		return 0, 0, false
	}
	file, pos = x.At(g)
	return file, pos, true
}

// At returns the file and the position in it of global position g.
func (x *Index) At(g int) (file, pos int) {
	file = sort.SearchInts(x.starts[1:], g+1)
	return file, g - x.starts[file]
}

// nameAt returns the name of the tensor at global position g.
func (x *Index) nameAt(g int) string {
	file, pos := x.At(g)
	return x.files[file].TensorAt(pos).Name
}
