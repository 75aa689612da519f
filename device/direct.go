package device

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"unsafe"
)

// O_DIRECT reads of ranges that are not in the page cache (Tuning.NoDirectIO off).
//
// A cold range read through the page cache crosses host memory three
// times before the device copies it: storage → page cache (DMA), page
// cache → staging buffer (a CPU copy), staging buffer → device (DMA). An
// O_DIRECT read lands the bytes in the staging buffer straight from
// storage: two passes, no CPU copy, and no page cache filled with a model
// that is about to live on the device. Ranges already cached keep the
// page cache path, which is faster for them.
//
// The choice is made per file, then per span (a run of a chunk that is
// contiguous in the file). A file whose sampled pages are all cached is
// warm: it keeps the page cache path, and its spans are never checked.
// Any other file is cold: each of its spans is read with O_DIRECT unless
// mincore(2) finds most of its pages cached. A cold file's mapping is
// advised MADV_RANDOM during the load, since otherwise every span read
// from the mapping starts readahead of the next one, which then looks
// cached (pages being read count as cached) and goes through the page
// cache too, and so on down the file. A cold file read with pread, whose
// readahead the loader's descriptor drives, reads every span with
// O_DIRECT, cached or not.

// directMin is the smallest span read with O_DIRECT: below it, rounding
// to whole pages and the request's fixed cost outweigh the copy saved.
const directMin = 64 << 10

// directPart is the size of the parts a span's O_DIRECT read is split
// into, read in parallel: storage needs many requests in flight to reach
// its rate (a virtio disk here read 1.4 GB/s with one 8 MiB request at a
// time and 2.1 GB/s with four), so each reader keeps up to
// span/directPart requests going (4 per 8 MiB chunk; 16 readers: 64).
const directPart = 2 << 20

// directFile is a file of the load opened a second time, with O_DIRECT.
type directFile struct {
	fd   int
	name string
	// pages is the file's mapping rounded to whole pages, for mincore:
	// the loader's, or one of the descriptor's own, unmapped by unmap.
	pages []byte
	unmap func() error
	// all reads every span with O_DIRECT, cached or not (pread files);
	// unadvise restores the mapping's readahead advice.
	all      bool
	unadvise func()
	// failed is set by a read that failed: the file system refuses
	// O_DIRECT (or these alignments), so the file keeps to the page cache.
	failed atomic.Bool
	pread  func(fd int, p []byte, off int64) (int, error)
	cold   bool // treat every page as uncached (tests)
}

// directHooks replace the system calls of O_DIRECT reads, for tests that
// play a file system without O_DIRECT support.
type directHooks struct {
	open  func(path string) (int, error)
	pread func(fd int, p []byte, off int64) (int, error)
	cold  bool // every range counts as not cached
}

// openDirect opens file fi for O_DIRECT reads, or returns nil when the
// load does not use them or the file cannot be read that way (no path, a
// platform or file system without O_DIRECT): its ranges then all take the
// page cache path.
func (e *loadRun) openDirect(fi int) *directFile {
	if !e.cfg.perf.direct {
		return nil
	}
	d, err := openDirect(e.p.files[fi].File, e.maps[fi], e.cfg.perf.hooks)
	if err != nil {
		return nil
	}
	return d
}

// closeDirect closes the files opened for O_DIRECT reads.
func (e *loadRun) closeDirect() {
	for i, d := range e.direct {
		if d != nil {
			d.close()
			e.direct[i] = nil
		}
	}
}

// readDirect reads span sp of file fi into buf with O_DIRECT and reports
// whether it did; when it did not, the caller reads the span through the
// page cache. It does when the file is open for O_DIRECT, the span is
// large and its pages mostly not cached, and the whole pages of the file
// around the span fit at the span's place in buf without touching bytes
// of earlier spans (buf[:used]): the chunker places spans so (align), and
// buf is page-aligned pinned memory. A failed read, say EINVAL from a
// file system that refuses O_DIRECT, turns O_DIRECT off for the file and
// returns false, so the page cache path reads the span.
func (r *reader) readDirect(fi int, buf []byte, sp span, used int64) bool {
	d := r.e.direct[fi]
	if d == nil || sp.n < directMin || d.failed.Load() {
		return false
	}
	head := sp.off % pageSize
	start, end := sp.at-head, roundUp(sp.at+sp.n, pageSize)
	if sp.at%pageSize != head || start < used || end > int64(len(buf)) ||
		uintptr(unsafe.Pointer(unsafe.SliceData(buf)))%pageSize != 0 {
		return false
	}
	if d.cached(sp.off, sp.n, &r.vec) {
		return false
	}
	if err := d.readAt(buf[start:end], sp.off-head, sp.off+sp.n); err != nil {
		d.failed.Store(true)
		return false
	}
	r.e.directBytes.Add(sp.n)
	return true
}

// readAt fills dst, whose address, length and file offset off are
// multiples of the page size, from the file, in parts of directPart read
// in parallel. Parts may stop short at the end of the file, but every
// byte before need must arrive.
func (d *directFile) readAt(dst []byte, off, need int64) error {
	parts := (int64(len(dst)) + directPart - 1) / directPart
	if parts <= 1 {
		return d.readPart(dst, off, need)
	}
	errs := make([]error, parts)
	var wg sync.WaitGroup
	for i := int64(1); i < parts; i++ {
		wg.Go(func() {
			lo := i * directPart
			errs[i] = d.readPart(dst[lo:min(lo+directPart, int64(len(dst)))], off+lo, need)
		})
	}
	errs[0] = d.readPart(dst[:directPart], off, need)
	wg.Wait()
	return errors.Join(errs...)
}

// readPart reads dst from file offset off, allowing a short read only
// past need (the end of the file).
func (d *directFile) readPart(dst []byte, off, need int64) error {
	for len(dst) > 0 && off < need {
		n, err := d.pread(d.fd, dst, off)
		if err != nil {
			return fmt.Errorf("%s: O_DIRECT read of %d bytes at %d: %w", d.name, len(dst), off, err)
		}
		if n == 0 {
			return fmt.Errorf("%s: O_DIRECT read at %d: %w", d.name, off, io.ErrUnexpectedEOF)
		}
		dst, off = dst[n:], off+int64(n)
	}
	return nil
}

// coldSamples is how many pages of a file are checked to tell whether it
// is warm: enough to see a file that is a tenth cold, few enough (one
// mincore call each, about a microsecond) not to show in a warm load.
const coldSamples = 64

// warm reports whether every sampled page of the data section of a file
// of size bytes, whose data starts at off, is in the page cache.
func (d *directFile) warm(off, size int64) bool {
	var vec [1]byte
	first, last := off/pageSize, (size-1)/pageSize
	for i := range int64(coldSamples) {
		p := first + (last-first)*i/(coldSamples-1)
		if mincore(d.pages[p*pageSize:(p+1)*pageSize], vec[:]) != nil || vec[0]&1 == 0 {
			return false
		}
	}
	return true
}

// cached reports whether at least half the pages of [off, off+n) are in
// the page cache (or whether mincore cannot tell). vec is reused across
// calls.
func (d *directFile) cached(off, n int64, vec *[]byte) bool {
	if d.cold || d.all {
		return false
	}
	first, last := off/pageSize, (off+n-1)/pageSize
	pages := int(last - first + 1)
	if cap(*vec) < pages {
		*vec = make([]byte, pages)
	}
	v := (*vec)[:pages]
	if last >= int64(len(d.pages))/pageSize || mincore(d.pages[first*pageSize:(last+1)*pageSize], v) != nil {
		return true
	}
	in := 0
	for _, b := range v {
		in += int(b & 1)
	}
	return 2*in >= pages
}
