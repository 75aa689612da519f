package device

import (
	"fmt"
	"maps"
	"path"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/stload/stload/dtype"
	"github.com/stload/stload/loader"
)

// Defaults of the loading pipeline, chosen by the GPU benchmarks of
// bench/RESULTS.md. Staging is bound by host memory bandwidth, not by the
// copies: every byte is read from the page cache, written to a pinned
// buffer and read again by the DMA engine, and more readers over more,
// smaller buffers keep more of that bandwidth busy. 32 buffers of 8 MiB
// keep 256 MiB pinned; pinned copies run close to their peak from 4 MiB
// up.
const (
	DefaultChunkSize = 8 << 20
	DefaultChunks    = 32
	DefaultStreams   = 2
	defaultProgress  = 100 * time.Millisecond
	maxReaders       = 16
	minChunkSize     = 4 << 10
)

// Option configures a [Placer] or one load.
type Option func(*config)

type config struct {
	target    []Device // where tensors no rule matches go; several: balanced
	auto      bool     // target is autoDevices()
	rules     []rule
	only      []map[string]bool   // each Only's names
	filters   []func(string) bool // each Select's predicate
	to        dtype.DType         // conversion target for floating tensors, or Invalid
	align     int64
	chunkSize int
	chunks    int
	readers   int
	streams   int
	reserve   int64
	copyCPU   bool
	register  bool
	progress  func(done, total int64)
	every     time.Duration
	perf      perfConfig // tuning.go: timeline, direct reads, pinning
	err       error      // the first invalid option
}

// rule is a Map or Shard rule.
type rule struct {
	pattern string
	shard   bool
	dim     int
	devs    []Device // Map: one; Shard: the parts' devices, or nil for the target's
	copies  bool     // Replicate: shard is set, and every part is the whole tensor
}

func newConfig(opts []Option) config {
	c := config{
		target:    []Device{{}},
		chunkSize: DefaultChunkSize,
		chunks:    DefaultChunks,
		readers:   min(maxReaders, runtime.GOMAXPROCS(0)),
		perf:      defaultPerf(),
		streams:   DefaultStreams,
		every:     defaultProgress,
	}
	for _, o := range opts {
		o(&c)
	}
	c.readers = min(c.readers, c.chunks)
	return c
}

func (c *config) fail(format string, args ...any) {
	if c.err == nil {
		c.err = &Error{Op: "option", Detail: fmt.Sprintf(format, args...), Err: ErrPlacement}
	}
}

// On places the tensors that no [Map] or [Shard] rule matches on devs: all
// of them on one device, or, with several, balanced across them like
// [OnAuto]. A device named more than once counts once. The default is the
// CPU.
func On(devs ...Device) Option {
	return func(c *config) {
		if len(devs) == 0 {
			c.fail("On needs at least one device")
			return
		}
		c.target, c.auto = canonicalAll(devs), false
	}
}

// OnAuto places the tensors that no rule matches on every visible GPU
// (as [ParseDevices]("auto") lists them), or on the CPU when there is
// none. Across several devices whole
// layers are assigned, in layer order, to consecutive devices in
// proportion to each device's free memory (less [WithReserve]). A layer is
// every tensor whose name shares the prefix up to and including the first
// dot-separated component that is a number: "model.layers.12.mlp.up.weight"
// belongs to layer "model.layers.12.", as do all experts of that layer.
// A tensor without a numeric component ("lm_head.weight") is a group of its
// own. Groups are ordered by name with numbers compared by value, so layer
// 2 comes before layer 10.
func OnAuto() Option {
	return func(c *config) { c.auto = true }
}

// Map places the tensors whose names match pattern on dev. Patterns are
// [path.Match] globs matched against the whole name: '*' matches any run of
// characters (dots included, as names have no '/'), '?' one character,
// '[a-z]' a class, '\' escapes. Map and Shard rules are tried in the order
// given; the first that matches a tensor decides its placement.
func Map(pattern string, dev Device) Option {
	return func(c *config) {
		if c.checkPattern(pattern) {
			c.rules = append(c.rules, rule{pattern: pattern, devs: []Device{dev.canonical()}})
		}
	}
}

// Shard splits each tensor whose name matches pattern along dimension dim
// (negative counts from the last, as in Python) into len(devs) parts, part
// k on devs[k] (a device may be named twice: the list sets the number of
// parts); with no devs, across the load's distinct target devices ([On],
// [OnAuto]). Each device receives only its part, copied from the file's
// bytes: a split of the outermost dimension (or of any dimension whose
// outer dimensions are all 1) is one contiguous range, any other split one
// strided 2-D copy per device. Uneven sizes follow torch.tensor_split: with
// n parts of a dimension of size s, the first s%n parts get one more
// element, and parts may be empty when s < n. A split that would cut a
// sub-byte element type (F4, F6) inside a byte is an error.
func Shard(pattern string, dim int, devs ...Device) Option {
	return func(c *config) {
		if c.checkPattern(pattern) {
			c.rules = append(c.rules, rule{pattern: pattern, shard: true, dim: dim, devs: canonicalAll(devs)})
		}
	}
}

func (c *config) checkPattern(p string) bool {
	if _, err := path.Match(p, ""); err != nil {
		c.fail("pattern %q: %v", p, err)
		return false
	}
	return true
}

func canonicalAll(devs []Device) []Device {
	out := make([]Device, len(devs))
	for i, d := range devs {
		out[i] = d.canonical()
	}
	return out
}

// ParseMap parses a rule written "PATTERN=DEVICE" (as the CLI's --map
// takes it) into a [Map] option.
func ParseMap(s string) (Option, error) {
	pat, dev, ok := strings.Cut(s, "=")
	if !ok || pat == "" {
		return nil, &Error{Op: "parse map", Detail: fmt.Sprintf("%q: want PATTERN=DEVICE", s), Err: ErrPlacement}
	}
	d, err := ParseDevice(dev)
	if err != nil {
		return nil, err
	}
	if _, err := path.Match(pat, ""); err != nil {
		return nil, &Error{Op: "parse map", Detail: fmt.Sprintf("pattern %q: %v", pat, err), Err: ErrPlacement}
	}
	return Map(pat, d), nil
}

// ParseShard parses a rule written "PATTERN=DIM" or "PATTERN=DIM@DEVICES"
// (DEVICES as for [ParseDevices]), as the CLI's --shard takes it, into a
// [Shard] option.
func ParseShard(s string) (Option, error) {
	pat, spec, ok := strings.Cut(s, "=")
	bad := func(why string) (Option, error) {
		return nil, &Error{Op: "parse shard", Detail: fmt.Sprintf("%q: %s", s, why), Err: ErrPlacement}
	}
	if !ok || pat == "" {
		return bad("want PATTERN=DIM or PATTERN=DIM@DEVICES")
	}
	if _, err := path.Match(pat, ""); err != nil {
		return bad(err.Error())
	}
	dimStr, devStr, hasDevs := strings.Cut(spec, "@")
	dim, err := strconv.Atoi(strings.TrimSpace(dimStr))
	if err != nil {
		return bad("DIM must be an integer")
	}
	var devs []Device
	if hasDevs {
		if devs, err = ParseDevices(devStr); err != nil {
			return nil, err
		}
	}
	return Shard(pat, dim, devs...), nil
}

// WithDType converts every floating-point tensor (but complex C64) to t
// while staging it on the host, so devices receive and hold t: BF16 to F16
// or F32, F32 to BF16, and so on. Integer and boolean tensors are loaded as
// they are. A floating type that cannot be converted to t is an error.
func WithDType(t dtype.DType) Option {
	return func(c *config) {
		if !t.Float() || t == dtype.C64 || t.Size() == 0 {
			c.fail("WithDType(%v): the target must be a whole-byte floating type", t)
			return
		}
		c.to = t
	}
}

// WithAlign places every tensor at an offset within its device allocation
// that is a multiple of n bytes (a power of two, e.g. 256 as cudaMalloc
// aligns). The default aligns each tensor to its element size only, which
// keeps runs of consecutive tensors contiguous so their copies coalesce.
func WithAlign(n int64) Option {
	return func(c *config) {
		if n <= 0 || n&(n-1) != 0 {
			c.fail("WithAlign(%d): not a power of two", n)
			return
		}
		c.align = n
	}
}

// WithChunkSize sets the size of each pinned staging buffer, in bytes
// (default [DefaultChunkSize]). Larger chunks mean fewer, larger copies.
func WithChunkSize(n int) Option {
	return atLeast("WithChunkSize", n, minChunkSize, func(c *config) *int { return &c.chunkSize })
}

// WithChunks sets how many pinned staging buffers the ring may hold
// (default [DefaultChunks]). Host memory pinned for staging never exceeds
// chunks × chunk size, whatever the model size. Buffers are allocated as
// the pipeline first needs them, so a load that drains fast pins fewer.
func WithChunks(n int) Option {
	return atLeast("WithChunks", n, 1, func(c *config) *int { return &c.chunks })
}

// WithReaders sets how many goroutines read the file into staging buffers
// (or straight into CPU tensors), capped at the number of chunks. The
// default is GOMAXPROCS−2, at least 2 and at most 16, for loads that stage
// copies to accelerators (leaving CPUs to the goroutines that issue and
// retire copies), and min(16, GOMAXPROCS) for loads to the CPU only.
// Each reads with [loader.File.ReadAt], which copies from the file's
// mapping or calls pread, as the file was opened ([loader.WithPread]
// chooses pread), or with O_DIRECT where the file is cold ([Tuning]).
func WithReaders(n int) Option {
	return atLeast("WithReaders", n, 1, func(c *config) *int { c.perf.readersSet = true; return &c.readers })
}

// WithStreams sets how many copy streams each accelerator uses (default
// [DefaultStreams]); chunks go to them in turn.
func WithStreams(n int) Option {
	return atLeast("WithStreams", n, 1, func(c *config) *int { return &c.streams })
}

// atLeast returns the option name(n), which sets the field of the config
// that field picks to n, or fails when n is below least.
func atLeast(name string, n, least int, field func(*config) *int) Option {
	return func(c *config) {
		if n < least {
			c.fail("%s(%d): at least %d", name, n, least)
			return
		}
		*field(c) = n
	}
}

// WithReserve keeps n bytes of each device's free memory out of the
// balance computed by [OnAuto] (for activations, caches and the like).
func WithReserve(n int64) Option {
	return func(c *config) { c.reserve = max(n, 0) }
}

// WithCopy makes CPU placement copy tensors into memory of their own even
// when they could be views of the file's mapping, so that they are
// writable and do not hold the mapping.
func WithCopy() Option {
	return func(c *config) { c.copyCPU = true }
}

// WithRegister copies tensors to accelerators straight from the file's
// memory mapping instead of staging them: each window of a chunk's size is
// page-locked in place ([Registrar]) while its copies run, then released.
// It applies to memory-mapped files loaded without conversion onto
// accelerators that implement Registrar, and falls back to staging
// otherwise. Page-locking runs on the reader goroutines; at most chunks
// windows are locked at a time, so the locked page cache stays within the
// same bound as the staging ring. Each byte then crosses host memory once
// instead of three times, but page-locking is slow and does not get
// faster with more threads: on the GPU hosts of bench/RESULTS.md this
// loads slower than staging.
func WithRegister() Option {
	return func(c *config) { c.register = true }
}

// WithProgress calls fn with the bytes placed so far and the total, about
// every interval (100 ms when interval <= 0) while a
// load runs and once more at its end on success (done == total). Calls come
// from one goroutine at a time. The count is an atomic counter advanced
// once per staging chunk, so reporting costs nothing per tensor.
func WithProgress(fn func(done, total int64), interval time.Duration) Option {
	return func(c *config) {
		c.progress = fn
		if interval > 0 {
			c.every = interval
		}
	}
}

// Only loads just the named tensors, like a get_tensor per name in
// Python's safetensors; the others are not read. A name that is in none
// of the source's files fails the load with an error wrapping
// [loader.ErrTensorNotFound]. With several Only and [Select] options, a
// tensor is loaded when every one of them selects it.
func Only(names ...string) Option {
	return func(c *config) {
		set := make(map[string]bool, len(names))
		for _, n := range names {
			set[n] = true
		}
		c.only = append(c.only, set)
	}
}

// Select loads just the tensors whose names keep reports true for; the
// others are not read. It is called once per tensor of the source while
// the load is planned, from one goroutine.
func Select(keep func(name string) bool) Option {
	return func(c *config) {
		if keep == nil {
			c.fail("Select needs a function")
			return
		}
		c.filters = append(c.filters, keep)
	}
}

// selects reports whether the load's Only and Select options keep name.
func (c *config) selects(name string) bool {
	for _, set := range c.only {
		if !set[name] {
			return false
		}
	}
	for _, keep := range c.filters {
		if !keep(name) {
			return false
		}
	}
	return true
}

// selectsAll reports whether the load keeps every tensor: no Only, no
// Select.
func (c *config) selectsAll() bool { return len(c.only) == 0 && len(c.filters) == 0 }

// checkOnly fails for the first name given to Only, in name order,
// that is not a tensor of the source (whose names are indexed).
func (c *config) checkOnly(names *tensorNames) error {
	for _, set := range c.only {
		for _, name := range slices.Sorted(maps.Keys(set)) {
			if _, _, ok := names.find(name); !ok {
				return &Error{Op: "plan", Tensor: name, Detail: fmt.Sprintf("not in the source (%d tensors)", names.len()),
					Err: loader.ErrTensorNotFound}
			}
		}
	}
	return nil
}
