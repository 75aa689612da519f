//go:build !linux

package device

import (
	"errors"

	"github.com/stload/stload/loader"
)

// openDirect reports that O_DIRECT reads are only implemented on Linux.
func openDirect(*loader.File, []byte, directHooks) (*directFile, error) {
	return nil, errors.New("O_DIRECT reads are implemented on Linux only")
}

func (d *directFile) close() {}

func mincore(b, vec []byte) error { return errors.New("no mincore") }
