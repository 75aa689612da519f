package main

import (
	"io"
	"os"
)

// isTerminal reports whether w is a terminal (a character device other
// than the null device). Only an *os.File can be one; the writers tests
// pass never are.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	if err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return false
	}
	if null, err := os.Stat(os.DevNull); err == nil && os.SameFile(fi, null) {
		return false
	}
	return true
}
