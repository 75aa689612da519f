package device

import (
	"fmt"
	"path"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/stload/stload/dtype"
)

// Defaults of the loading pipeline, from the GPU benchmark of 2026-11-26
// (H200, PCIe 5, 16 vCPUs; bench/RESULTS.md). Staging is bound by host
// memory bandwidth, not by the copies: every byte is read from the page
// cache, written to a pinned buffer and read again by the DMA engine. More
// readers keep more of that bandwidth busy: 16 readers over 32 buffers of
// 8 MiB loaded a 32 GB file at 31.4 GB/s against 26.0 with 8 readers over
// 16 × 16 MiB, and an MoE file of 18,867 tensors at 25.8 against 22.2, in
// the same run. 32 × 8 MiB keeps 256 MiB pinned, half the 512 MiB budget;
// pinned copies run within 3% of their peak from 4 MiB up.
const (
	DefaultChunkSize = 8 << 20
	DefaultChunks    = 32
	DefaultStreams   = 2
	DefaultProgress  = 100 * time.Millisecond
	maxReaders       = 16
	minChunkSize     = 4 << 10
)

// Option configures a [Loader] or one load.
type Option func(*config)

type config struct {
	target    []Device // where tensors no rule matches go; several: balanced
	auto      bool     // target is Auto()
	rules     []rule
	to        dtype.DType // conversion target for floating tensors, or Invalid
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
		every:     DefaultProgress,
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

// To places the tensors that no [Map] or [Shard] rule matches on devs: all
// of them on one device, or, with several, balanced across them like
// [OnAuto]. A device named more than once counts once. The default is the
// CPU.
func To(devs ...Device) Option {
	return func(c *config) {
		if len(devs) == 0 {
			c.fail("To needs at least one device")
			return
		}
		c.target, c.auto = canonicalAll(devs), false
	}
}

// OnAuto places the tensors that no rule matches on every visible GPU
// ([Auto]), or on the CPU when there is none. Across several devices whole
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
// parts); with no devs, across the load's distinct target devices ([To],
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
// chooses pread), or with O_DIRECT where the file is cold ([WithDirectIO]).
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
// when they could be views of the file's mapping, so that they outlive the
// [loader.File].
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
// same bound as the staging ring. On the H200 machine of bench/RESULTS.md
// it loaded at about 10 GB/s against 31 for staging: cuMemHostRegister
// locks about 11 GB/s and several threads do not lock faster, although
// copies from the locked windows run at the full 55 GB/s.
func WithRegister() Option {
	return func(c *config) { c.register = true }
}

// WithProgress calls fn with the bytes placed so far and the total, about
// every interval (default [DefaultProgress] when interval <= 0) while a
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
