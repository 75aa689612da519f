package device

import (
	"cmp"
	"slices"
	"sort"
	"strings"

	"github.com/stload/stload/loader"
)

// tensorNames finds the tensors of a load's files by name. It keeps no
// copy of a name and no map: one 4-byte global position per tensor (its
// position among all the files' tensors, file after file), sorted by
// name, and searched by bisection with the names the files hold. A
// million-tensor header costs 4 MB here, not the ~60 MB of a map.
type tensorNames struct {
	files  []*loader.File
	starts []int   // global position of each file's first tensor, then the total
	sorted []int32 // global positions in name order
}

// duplicate is a name found in two files, as indexes into the files.
type duplicate struct {
	name          string
	first, second int
}

// indexNames indexes the tensors of files, and returns the first name
// that two files share, if any (in the earlier file of the two as first).
func indexNames(files []*loader.File) (*tensorNames, *duplicate) {
	x := &tensorNames{files: files, starts: make([]int, len(files)+1)}
	for i, f := range files {
		x.starts[i+1] = x.starts[i] + f.Len()
	}
	x.sorted = make([]int32, x.len())
	for g := range x.sorted {
		x.sorted[g] = int32(g)
	}
	// A stable sort keeps equal names in file order: first before second.
	slices.SortStableFunc(x.sorted, func(a, b int32) int { return strings.Compare(x.name(int(a)), x.name(int(b))) })
	for k := 1; k < len(x.sorted); k++ {
		a, b := int(x.sorted[k-1]), int(x.sorted[k])
		if x.name(a) == x.name(b) {
			fa, _ := x.at(a)
			fb, _ := x.at(b)
			return nil, &duplicate{name: x.name(b), first: fa, second: fb}
		}
	}
	return x, nil
}

// len returns the number of tensors in all the files.
func (x *tensorNames) len() int {
	if x == nil {
		return 0
	}
	return x.starts[len(x.starts)-1]
}

// find returns the file (an index into the files) and the position in it
// of the named tensor, and whether there is one.
func (x *tensorNames) find(name string) (file, pos int, ok bool) {
	if x == nil {
		return 0, 0, false
	}
	k, found := slices.BinarySearchFunc(x.sorted, name, func(g int32, name string) int { return cmp.Compare(x.name(int(g)), name) })
	if !found {
		return 0, 0, false
	}
	file, pos = x.at(int(x.sorted[k]))
	return file, pos, true
}

// at returns the file and the position in it of global position g.
func (x *tensorNames) at(g int) (file, pos int) {
	file = sort.SearchInts(x.starts[1:], g+1)
	return file, g - x.starts[file]
}

// name returns the name of the tensor at global position g.
func (x *tensorNames) name(g int) string {
	file, pos := x.at(g)
	return x.files[file].TensorAt(pos).Name
}
