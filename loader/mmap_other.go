//go:build !unix

package loader

import "os"

// mmapFile is not implemented on this platform; Open reads with ReadAt.
func mmapFile(*os.File, int64) ([]byte, error) { return nil, nil }

func munmap([]byte) error { return nil }

// isEFAULT is false: files are not mapped here, so no write reads a
// mapping.
func isEFAULT(error) bool { return false }
