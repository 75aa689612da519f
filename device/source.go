package device

import (
	"fmt"
	"reflect"

	"github.com/stload/stload/loader"
)

// Source is what a load reads tensors from: safetensors files, whose
// tensor names must all differ. A *checkpoint.Checkpoint of package
// loader/checkpoint is one (whatever it opened: a file, a sharded
// checkpoint, a URL); [Files] makes one of files opened with package
// loader. A load neither closes the files nor keeps them beyond the Set's
// views of their mappings.
type Source interface {
	// Files returns the files, in the order tensors are placed.
	Files() []*loader.File
}

// Files returns a Source of the given files.
func Files(files ...*loader.File) Source { return fileList(files) }

// fileList is the Source that Files returns.
type fileList []*loader.File

func (l fileList) Files() []*loader.File { return l }

// sourceFiles returns src's files, or an error for a nil Source (also a
// nil pointer in the interface, whose Files method would dereference it)
// or a nil file among them.
func sourceFiles(src Source) ([]*loader.File, error) {
	if src == nil {
		return nil, &Error{Op: "plan", Detail: "nil Source", Err: ErrPlacement}
	}
	if v := reflect.ValueOf(src); v.Kind() == reflect.Pointer && v.IsNil() {
		return nil, &Error{Op: "plan", Detail: fmt.Sprintf("nil %T as Source", src), Err: ErrPlacement}
	}
	files := src.Files()
	for i, f := range files {
		if f == nil {
			return nil, &Error{Op: "plan", Detail: fmt.Sprintf("file %d of %d is nil", i+1, len(files)), Err: ErrPlacement}
		}
	}
	return files, nil
}
