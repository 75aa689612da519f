//go:build !unix

package loader

import "os"

// mmapFile is not implemented on this platform; Open reads with ReadAt.
func mmapFile(*os.File, int64) ([]byte, error) { return nil, nil }

func munmap([]byte) error { return nil }
