//go:build !linux

package bench

import (
	"errors"
	"os"
	"unsafe"
)

var errNoEvict = errors.New("evicting files from the page cache is implemented on Linux only")

// Evict is implemented on Linux only.
func Evict(string) (float64, error) { return -1, errNoEvict }

func directFile(string) (*os.File, error) { return nil, errNoEvict }

func alignedBuffers(n, size int) [][]byte { return touchedBuffers(n, size) }

func uintptrOf(b []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(b))) }
