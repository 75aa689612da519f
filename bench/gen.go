package bench

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stload/stload/loader"
)

// GenRequest says which synthetic checkpoint to write.
type GenRequest struct {
	// Kind is one of KindLlama, KindMoE, KindMany, KindSharded.
	Kind string
	// Size is the approximate tensor payload in bytes (llama, moe, sharded).
	Size int64
	// Out is the file to write, or for KindSharded the directory that
	// receives the shards and model.safetensors.index.json.
	Out string
	// Shards is the number of shards of KindSharded (default 4).
	Shards int
	// Layers and Experts shape KindMoE (defaults 48 and 128, Qwen3-30B-A3B).
	Layers, Experts int
	// Tensors is the tensor count of KindMany (default 10,000).
	Tensors int
	// Seed names the random stream; the same seed gives the same bytes.
	Seed uint64
	// Workers is the number of fill and write goroutines (default: all CPUs).
	Workers int
	// Durable writes through loader.CreateFile, which fsyncs and renames:
	// safe against crashes but it waits for the disk, which a benchmark
	// that reads from the page cache does not need. The default streams
	// through loader.NewWriter into parallel pwrites and does not sync.
	Durable bool
}

// GenFile describes one written file.
type GenFile struct {
	// Path is where the file was written.
	Path string `json:"path"`
	// Bytes is the file's size: prefix, header and tensor bytes.
	Bytes int64 `json:"bytes"`
	// Payload counts the tensor bytes alone.
	Payload int64 `json:"payload"`
	// Tensors is the number of tensors in the file.
	Tensors int `json:"tensors"`
	// Seconds is the time from creating the file to its rename into place.
	Seconds float64 `json:"seconds"`
}

// Generate writes the checkpoint r asks for and returns its files (for
// KindSharded the shards; the index is written beside them).
func Generate(r GenRequest) ([]GenFile, error) {
	meta := map[string]string{"format": "pt", "generator": "stload bench", "seed": fmt.Sprint(r.Seed)}
	switch r.Kind {
	case KindLlama:
		f, err := WriteCheckpoint(r, LlamaSpecs(r.Size), meta)
		return []GenFile{f}, err
	case KindMoE:
		f, err := WriteCheckpoint(r, MoESpecs(r.Size, cmpOr(r.Layers, 48), cmpOr(r.Experts, 128)), meta)
		return []GenFile{f}, err
	case KindMany:
		f, err := WriteCheckpoint(r, ManySpecs(cmpOr(r.Tensors, 10000)), meta)
		return []GenFile{f}, err
	case KindSharded:
		return writeSharded(r, meta)
	}
	return nil, fmt.Errorf("bench: unknown kind %q (want llama, moe, many or sharded)", r.Kind)
}

func cmpOr(v, def int) int {
	if v > 0 {
		return v
	}
	return def
}

// writeSharded writes the Llama model of r.Size split into r.Shards files
// named as transformers names them, and the index that maps each tensor to
// its shard.
func writeSharded(r GenRequest, meta map[string]string) ([]GenFile, error) {
	if err := os.MkdirAll(r.Out, 0o755); err != nil {
		return nil, err
	}
	groups := shard(LlamaSpecs(r.Size), cmpOr(r.Shards, 4))
	index := struct {
		Metadata  map[string]int64  `json:"metadata"`
		WeightMap map[string]string `json:"weight_map"`
	}{map[string]int64{"total_size": 0}, map[string]string{}}
	var files []GenFile
	for i, g := range groups {
		name := fmt.Sprintf("model-%05d-of-%05d.safetensors", i+1, len(groups))
		sr := r
		sr.Out = filepath.Join(r.Out, name)
		// Each shard has its own stream so that shards never share bytes.
		sr.Seed = r.Seed + uint64(i)*0x9e3779b97f4a7c15
		f, err := WriteCheckpoint(sr, g, meta)
		if err != nil {
			return files, err
		}
		files = append(files, f)
		index.Metadata["total_size"] += f.Payload
		for _, s := range g {
			index.WeightMap[s.Name] = name
		}
	}
	b, err := json.MarshalIndent(index, "", "  ")
	if err != nil {
		return files, err
	}
	return files, os.WriteFile(filepath.Join(r.Out, "model.safetensors.index.json"), append(b, '\n'), 0o644)
}

// genChunkSize is the unit of filling and writing: large enough that a
// pwrite's fixed cost vanishes, small enough that a buffer per goroutine
// stays in the last-level cache between the fill and the write.
const genChunkSize = 4 << 20

// chunk is one buffer of the generator's ring.
type chunk struct {
	buf  []byte
	n    int
	refs atomic.Int32 // pieces still being written, plus one while queued
}

// WriteCheckpoint writes a safetensors file of the given tensors at r.Out,
// their bytes drawn from the stream r.Seed (byte i of the data section is
// byte i of the stream), with r.Workers goroutines; r.Kind and the sizes
// are not used. The header and the byte accounting go through loader's
// streaming writer, so a file of any size is written with a few megabytes
// of memory: see [GenRequest.Durable] for the two ways.
func WriteCheckpoint(r GenRequest, specs []loader.Spec, meta map[string]string) (GenFile, error) {
	workers := r.Workers
	if workers < 1 {
		workers = runtime.GOMAXPROCS(0)
	}
	start := time.Now()
	total := payload(specs)
	write := writeParallel
	if r.Durable {
		write = writeDurable
	}
	header, err := write(r.Out, specs, meta, r.Seed, total, workers)
	if err != nil {
		return GenFile{}, err
	}
	return GenFile{Path: r.Out, Bytes: header + total, Payload: total, Tensors: len(specs),
		Seconds: time.Since(start).Seconds()}, nil
}

// writeDurable streams through loader.CreateFile: the fill is parallel,
// the writes sequential through its buffered writer, then fsync.
func writeDurable(path string, specs []loader.Spec, meta map[string]string, seed uint64, total int64, workers int) (int64, error) {
	fw, err := loader.CreateFile(path, specs, meta)
	if err != nil {
		return 0, err
	}
	free := make(chan *chunk, 2*workers+2)
	err = produce(total, seed, workers, free, func(c *chunk) error {
		_, err := fw.Write(c.buf[:c.n])
		free <- c
		return err
	})
	if err != nil {
		fw.Close() // incomplete: publishes nothing
		return 0, err
	}
	if err := fw.Close(); err != nil {
		return 0, err
	}
	fi, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	return fi.Size() - total, nil
}

// writeParallel streams through loader.NewWriter whose destination hands
// each piece to a pool of pwrite goroutines: on a machine where the page
// cache fills at a few GB/s per core, writing from one goroutine would make
// generating a 32 GB file cost tens of seconds of GPU-machine time.
func writeParallel(path string, specs []loader.Spec, meta map[string]string, seed uint64, total int64, workers int) (int64, error) {
	tmp := path + ".partial"
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return 0, err
	}
	fail := func(err error) (int64, error) {
		f.Close()
		os.Remove(tmp)
		return 0, err
	}
	sink := &pwriteSink{f: f, queue: make(chan piece, 64)}
	sw, err := loader.NewWriter(sink, specs, meta) // the header, synchronously
	if err != nil {
		return fail(err)
	}
	header := sink.off
	err = sink.pump(sw, total, seed, workers)
	err = errors.Join(err, sink.error())
	if err == nil {
		err = sw.Close()
	}
	if err == nil {
		err = f.Close()
	} else {
		f.Close()
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return 0, err
	}
	return header, nil
}

// pump fills the data section through sw, which hands each piece to sink,
// and runs the pool of pwrite goroutines that drains sink's queue; it
// returns once every piece is written, or with the fill's error.
func (s *pwriteSink) pump(sw *loader.Writer, total int64, seed uint64, workers int) error {
	free := make(chan *chunk, 2*workers+2)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for p := range s.queue {
				if _, err := s.f.WriteAt(p.b, p.off); err != nil {
					s.setErr(err)
				}
				p.c.release(free)
			}
		})
	}
	err := produce(total, seed, workers, free, func(c *chunk) error {
		c.refs.Store(1)
		s.cur = c
		_, err := sw.Write(c.buf[:c.n])
		s.cur = nil
		c.release(free)
		return err
	})
	close(s.queue)
	wg.Wait()
	return err
}

// release drops one reference to c and returns it to free with the last.
func (c *chunk) release(free chan<- *chunk) {
	if c.refs.Add(-1) == 0 {
		free <- c
	}
}

// piece is part of a chunk to pwrite at off.
type piece struct {
	c   *chunk
	b   []byte
	off int64
}

// pwriteSink is the io.Writer under loader.Writer: outside a chunk
// (the header) it writes synchronously; inside one it queues the piece
// for the pwrite goroutines and returns at once.
type pwriteSink struct {
	f     *os.File
	off   int64
	cur   *chunk
	queue chan piece
	mu    sync.Mutex
	err   error
}

func (s *pwriteSink) Write(p []byte) (int, error) {
	if s.cur == nil {
		n, err := s.f.WriteAt(p, s.off)
		s.off += int64(n)
		return n, err
	}
	if err := s.error(); err != nil {
		return 0, err
	}
	s.cur.refs.Add(1)
	s.queue <- piece{s.cur, p, s.off}
	s.off += int64(len(p))
	return len(p), nil
}

func (s *pwriteSink) setErr(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil {
		s.err = err
	}
}

func (s *pwriteSink) error() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// produce fills the data section's chunks in parallel and hands them to
// write in order. Chunks come from free (whose capacity sets the ring's
// depth); write must put each chunk back there once done with it. A
// dispatcher takes a free buffer before assigning the next chunk, so the
// chunk that write waits for always has a buffer and the ring cannot
// deadlock.
func produce(total int64, seed uint64, workers int, free chan *chunk, write func(*chunk) error) error {
	for range cap(free) {
		free <- &chunk{buf: make([]byte, genChunkSize)}
	}
	type job struct {
		c    *chunk
		off  int64
		done chan *chunk
	}
	work := make(chan job)
	order := make(chan chan *chunk, cap(free))
	quit := make(chan struct{})
	go func() {
		defer close(order)
		defer close(work)
		for off := int64(0); off < total; off += genChunkSize {
			var c *chunk
			select {
			case c = <-free:
			case <-quit:
				return
			}
			c.n = int(min(genChunkSize, total-off))
			j := job{c, off, make(chan *chunk, 1)}
			select {
			case order <- j.done:
			case <-quit:
				return
			}
			work <- j
		}
	}()
	for range workers {
		go func() {
			for j := range work {
				Fill(j.c.buf[:j.c.n], seed, uint64(j.off/8))
				j.done <- j.c
			}
		}()
	}
	for done := range order {
		if err := write(<-done); err != nil {
			close(quit)
			for range order { // let the dispatcher and fillers finish
			}
			return err
		}
	}
	return nil
}
