//go:build linux

package device

import (
	"bytes"
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/stload/stload/loader"
)

// openDirect opens f's path again with O_DIRECT if f is cold (not every
// sampled page cached: see warm) and checks that it is the same file: a
// regular file of f's size whose first page, read with O_DIRECT (which
// also proves the file system accepts such reads), holds f's bytes. The
// file must not be replaced while it loads. A warm mapped file costs the
// samples only; nothing is opened.
func openDirect(f *loader.File, m []byte, h directHooks) (*directFile, error) {
	if f.Name() == "" || f.Size() == 0 {
		return nil, errors.New("no file to open")
	}
	whole := int(roundUp(f.Size(), pageSize))
	d := &directFile{fd: -1, name: f.Name(), pread: h.pread, cold: h.cold}
	if m != nil {
		d.pages = unsafe.Slice(unsafe.SliceData(m), whole) // the mapping covers whole pages
		if !d.cold && d.warm((8+f.HeaderSize()), f.Size()) {
			return nil, errWarm
		}
	}
	open := h.open
	if open == nil {
		open = func(path string) (int, error) {
			return unix.Open(path, unix.O_RDONLY|unix.O_DIRECT|unix.O_CLOEXEC, 0)
		}
	}
	if d.pread == nil {
		d.pread = unix.Pread
	}
	fd, err := open(f.Name())
	if err != nil {
		return nil, err
	}
	d.fd = fd
	if err := d.attach(f, whole); err != nil {
		d.close()
		return nil, err
	}
	return d, nil
}

// errWarm says that a file is in the page cache, where it is read from.
var errWarm = errors.New("the file is in the page cache")

// attach checks that d is f's file and prepares its reads: a mapping of
// its own for mincore (pread files), or the loader's mapping advised
// MADV_RANDOM for the load.
func (d *directFile) attach(f *loader.File, whole int) error {
	var st unix.Stat_t
	if err := unix.Fstat(d.fd, &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG || st.Size != f.Size() {
		return fmt.Errorf("%s: not the loaded file (%d bytes)", d.name, st.Size)
	}
	if d.pages == nil {
		m, err := unix.Mmap(d.fd, 0, int(f.Size()), unix.PROT_READ, unix.MAP_SHARED)
		if err != nil {
			return err
		}
		d.unmap = func() error { return unix.Munmap(m) }
		d.pages = unsafe.Slice(unsafe.SliceData(m), whole)
		if !d.cold && d.warm((8+f.HeaderSize()), f.Size()) {
			return errWarm
		}
		d.all = true
	}
	probe := alignedPage()
	want := make([]byte, min(f.Size(), pageSize))
	if err := guardFault(func() error { _, err := f.ReadAt(want, 0); return err }); err != nil {
		return err
	}
	if err := d.readPart(probe, 0, int64(len(want))); err != nil || !bytes.Equal(probe[:len(want)], want) {
		return fmt.Errorf("%s: O_DIRECT probe failed or differs: %v", d.name, err)
	}
	if d.unmap == nil {
		data := d.pages[(8+f.HeaderSize())/pageSize*pageSize:]
		if unix.Madvise(data, unix.MADV_RANDOM) == nil {
			d.unadvise = func() { unix.Madvise(data, unix.MADV_NORMAL) }
		}
	}
	return nil
}

// alignedPage returns one page of memory at a page-aligned address.
func alignedPage() []byte {
	b := make([]byte, 2*pageSize)
	skip := (pageSize - int(uintptr(unsafe.Pointer(unsafe.SliceData(b)))%pageSize)) % pageSize
	return b[skip : skip+pageSize]
}

// close closes the descriptor, unmaps its own mapping or restores the
// loader's mapping's advice.
func (d *directFile) close() {
	if d.unadvise != nil {
		d.unadvise()
	}
	if d.unmap != nil {
		d.unmap()
	}
	if d.fd >= 0 {
		unix.Close(d.fd)
	}
}

// mincore reports in vec, one byte per page of b (page-aligned), whether
// each page is in the page cache.
func mincore(b, vec []byte) error {
	// x/sys/unix has no Mincore wrapper on Linux; the raw call is stable.
	_, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(unsafe.SliceData(b))),
		uintptr(len(b)), uintptr(unsafe.Pointer(unsafe.SliceData(vec))))
	if errno != 0 {
		return errno
	}
	return nil
}
