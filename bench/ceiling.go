package bench

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
)

// ceilingChunk is the read size of the pread ceiling: the 2–16 MiB range
// the fast GPU loaders use, where a syscall's fixed cost is noise.
const ceilingChunk = 8 << 20

// parallel calls fn(worker, i) for every i in [0, n) from threads
// goroutines taking indexes in order as they finish their last one, so an
// uneven item never leaves the other goroutines idle. It returns the first
// error.
func parallel(threads, n int, fn func(worker, i int) error) error {
	if threads <= 1 {
		for i := range n {
			if err := fn(0, i); err != nil {
				return err
			}
		}
		return nil
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, threads)
	for w := range threads {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || errs[w] != nil {
					return
				}
				errs[w] = fn(w, i)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// touchedBuffers returns n buffers of size bytes whose pages have all been
// written once, so that a timed run measures copying, not the first-touch
// page faults (which cost ~11 µs a page on a lazily backed VM).
func touchedBuffers(n, size int) [][]byte {
	bufs := make([][]byte, n)
	for i := range bufs {
		bufs[i] = make([]byte, size)
		touch(bufs[i])
	}
	return bufs
}

// memcpyCeiling returns a contender that copies size bytes between two
// pre-touched buffers with copy(), split into contiguous pieces over
// threads goroutines: the memory bandwidth a reader into a reused buffer
// can at best reach.
func memcpyCeiling(group string, size, threads int) *contender {
	bufs := touchedBuffers(2, size)
	FillParallel(bufs[0], 7, 0, 0)
	src, dst := bufs[0], bufs[1]
	fig := &Figure{Group: group, Impl: "ceiling", Threads: threads, Bytes: int64(size),
		Name: fmt.Sprintf("copy() %s, %d goroutine(s), reused buffers", fmtBytes(int64(size)), threads)}
	piece := (size/threads + 4095) &^ 4095
	return &contender{fig: fig, run: func() error {
		return parallel(threads, threads, func(_, i int) error {
			lo := min(i*piece, size)
			hi := min(lo+piece, size)
			copy(dst[lo:hi], src[lo:hi])
			return nil
		})
	}}
}

// preadCeiling returns a contender that reads the whole of f with pread in
// ceilingChunk pieces from threads goroutines, each into its own reused,
// pre-touched buffer: what the page cache can deliver to a reader that
// allocates nothing. The file stays open across runs; open costs are not
// part of a ceiling.
func preadCeiling(group string, f *os.File, size int64, threads int) *contender {
	return preadInto(group, "reused buffers", f, size, touchedBuffers(threads, ceilingChunk))
}

// preadShifted is preadCeiling from one goroutine with every read starting
// shift bytes past a multiple of the chunk size (so shift mod 4096 past a
// page boundary). The kernel copies page by page, so the destination of
// every full-page copy is then misaligned by 4096 - shift%4096: on AMD Zen 3
// a misalignment of 8–24 bytes makes the kernel's rep movsb about five
// times slower. Loaders that pread at a tensor's offset inherit whatever
// alignment the file gives them; this figure shows what that can cost.
func preadShifted(group string, f *os.File, size, shift int64) *contender {
	buf := touchedBuffers(1, ceilingChunk)[0]
	n := int((size - shift) / ceilingChunk)
	fig := &Figure{Group: group, Impl: "ceiling", Threads: 1, Bytes: int64(n) * ceilingChunk,
		Name: fmt.Sprintf("pread %s pieces at offsets ≡ %d (mod 4096), 1 goroutine, reused buffer", fmtBytes(ceilingChunk), shift%4096)}
	return &contender{fig: fig, run: func() error {
		for i := range n {
			if _, err := f.ReadAt(buf, shift+int64(i)*ceilingChunk); err != nil {
				return err
			}
		}
		return nil
	}}
}

// preadInto is preadCeiling into the given buffers, one per goroutine, of
// at least ceilingChunk bytes each (the GPU ceilings pass pinned ones);
// what describes them in the figure's name.
func preadInto(group, what string, f *os.File, size int64, bufs [][]byte) *contender {
	threads := len(bufs)
	n := int((size + ceilingChunk - 1) / ceilingChunk)
	fig := &Figure{Group: group, Impl: "ceiling", Threads: threads, Bytes: size,
		Name: fmt.Sprintf("pread %s pieces, %d goroutine(s), %s", fmtBytes(ceilingChunk), threads, what)}
	return &contender{fig: fig, run: func() error {
		return parallel(threads, n, func(w, i int) error {
			off := int64(i) * ceilingChunk
			k := min(ceilingChunk, size-off)
			_, err := f.ReadAt(bufs[w][:k], off)
			return err
		})
	}}
}

// writeCeiling returns a contender that writes pieces, in order, to a new
// file at path with one write call each (and fsync when durable): the
// least a save of the same bytes can cost. setup removes the file so that
// every run, like every save, writes a fresh one.
func writeCeiling(group, path string, pieces [][]byte, durable bool) *contender {
	var n int64
	for _, p := range pieces {
		n += int64(len(p))
	}
	name := "write() of the same bytes, new file"
	if durable {
		name += ", fsync"
	}
	fig := &Figure{Group: group, Impl: "ceiling", Threads: 1, Bytes: n, Name: name}
	return &contender{fig: fig,
		setup: func() error { return removeIfExists(path) },
		run: func() error {
			return writeFile(path, func(f *os.File) error {
				for _, p := range pieces {
					if _, err := f.Write(p); err != nil {
						return err
					}
				}
				return nil
			}, durable)
		}}
}

// writeFile creates path, lets write fill it, syncs it when durable and
// closes it: the part of a timed save that the ceiling and the savers
// share, so that they pay for the same system calls.
func writeFile(path string, write func(f *os.File) error, durable bool) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	if durable {
		if err := f.Sync(); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}

func removeIfExists(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// fmtBytes formats n in binary units: "8 MiB", "1.00 GiB".
func fmtBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// threadCounts returns 1, 2, 4, … up to and including maxThreads.
func threadCounts(maxThreads int) []int {
	var ts []int
	for t := 1; t < maxThreads; t *= 2 {
		ts = append(ts, t)
	}
	return append(ts, max(1, maxThreads))
}

// openStat opens path for reading and stats it.
func openStat(path string) (*os.File, os.FileInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, fi, nil
}
