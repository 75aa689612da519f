package device

import (
	"sync"

	"github.com/stload/stload/loader"
)

// tensorNames finds the tensors of a load's files by name. Its map is
// made only when needed: at once for several files, to find a name that
// two of them share, else on the first lookup, so that a load of one
// file that looks nothing up (the common case, and stload load) keeps no
// table of its names. Keys are the files' own name strings, not copies.
type tensorNames struct {
	files []*loader.File
	once  sync.Once
	at    map[string]uint64 // name → file<<32 | position in the file
}

// duplicate is a name found in two files, as indexes into the files.
type duplicate struct {
	name          string
	first, second int
}

// indexNames indexes the tensors of files, and returns the first name, in
// file order, that two files share, if any.
func indexNames(files []*loader.File) (*tensorNames, *duplicate) {
	x := &tensorNames{files: files}
	if len(files) > 1 {
		if d := x.build(); d != nil {
			return nil, d
		}
	}
	return x, nil
}

// build makes the map, stopping at the first name given twice.
func (x *tensorNames) build() *duplicate {
	x.at = make(map[string]uint64, x.len())
	for fi, f := range x.files {
		for pos := range f.Len() {
			name := f.TensorAt(pos).Name
			if g, dup := x.at[name]; dup {
				return &duplicate{name: name, first: int(g >> 32), second: fi}
			}
			x.at[name] = uint64(fi)<<32 | uint64(pos)
		}
	}
	return nil
}

// len returns the number of tensors in all the files.
func (x *tensorNames) len() int {
	n := 0
	if x != nil {
		for _, f := range x.files {
			n += f.Len()
		}
	}
	return n
}

// find returns the file (an index into the files) and the position in it
// of the named tensor, and whether there is one. It is safe for
// concurrent use.
func (x *tensorNames) find(name string) (file, pos int, ok bool) {
	if x == nil {
		return 0, 0, false
	}
	x.once.Do(func() {
		if x.at == nil {
			x.build() // one file: no duplicates (its parser refuses them)
		}
	})
	g, ok := x.at[name]
	return int(g >> 32), int(g & (1<<32 - 1)), ok
}
