package bench

import (
	"os"
	"time"
)

// WarmResult reports one file read into the page cache.
type WarmResult struct {
	// Path is the file read.
	Path string `json:"path"`
	// Bytes is its size; Seconds the time the read took.
	Bytes   int64   `json:"bytes"`
	Seconds float64 `json:"seconds"`
	// Resident is the fraction of the file's pages in the page cache
	// afterwards (from mincore), or -1 when unknown. The protocol wants
	// ≥ 0.99 before a warm trial counts.
	Resident float64 `json:"resident"`
}

// Warm reads the whole file with pread from threads goroutines into
// reused buffers, so that it is in the page cache, and checks that it
// stayed there.
func Warm(path string, threads int) (WarmResult, error) {
	f, err := os.Open(path)
	if err != nil {
		return WarmResult{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return WarmResult{}, err
	}
	c := preadCeiling("warm", f, fi.Size(), max(1, threads))
	start := time.Now()
	if err := c.run(); err != nil {
		return WarmResult{}, err
	}
	return WarmResult{Path: path, Bytes: fi.Size(), Seconds: time.Since(start).Seconds(),
		Resident: residency(path)}, nil
}
