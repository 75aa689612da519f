//go:build !unix

package checkpoint

import "os"

// renameFile returns f: without a portable way to give an open file
// another name, a downloaded shard keeps its temporary file's name.
func renameFile(f *os.File, name string) (*os.File, error) { return f, nil }
