package device

// This file is compiled only into the package's tests. It gives the
// external tests (package device_test, which may import devicetest; the
// package itself may not) the internals they check, and holds the test
// files' writers that both the internal and the external tests use.

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/stload/stload/dtype"
	"github.com/stload/stload/loader"
)

// Internals for the external tests.
var (
	LayerKey       = layerKey
	NaturalCompare = naturalCompare
	StagingReaders = stagingReaders
	Mincore        = mincore
)

// Internals for the external tests.
const (
	PageSize     = pageSize
	MinChunkSize = minChunkSize
	LaneReader   = laneReader
	LanePinner   = lanePinner
	CUDATag      = cudaTag
)

// Geometry is the pipeline geometry that options set.
type Geometry struct{ ChunkSize, Chunks, Readers, Streams int }

// GeometryOf returns the geometry opts set, or the first invalid option's
// error.
func GeometryOf(opts ...Option) (Geometry, error) {
	c := newConfig(opts)
	return Geometry{c.chunkSize, c.chunks, c.readers, c.streams}, c.err
}

// DirectHooks replace the system calls of O_DIRECT reads, or make every
// range count as not cached.
type DirectHooks struct {
	Open  func(path string) (int, error)
	Pread func(fd int, p []byte, off int64) (int, error)
	Cold  bool
}

// WithDirectHooks is the option that installs h for a load.
func WithDirectHooks(h DirectHooks) Option {
	return func(c *config) { c.perf.hooks = directHooks{open: h.Open, pread: h.Pread, cold: h.Cold} }
}

// DirectWorks reports whether f's file system takes O_DIRECT reads.
func DirectWorks(f *loader.File) bool {
	d, err := openDirect(f, nil, directHooks{cold: true})
	if err != nil {
		return false
	}
	d.close()
	return true
}

// Spec declares a tensor of a test file.
type Spec struct {
	Name  string
	DType dtype.DType
	Shape []uint64
}

// Sp returns a Spec.
func Sp(name string, dt dtype.DType, shape ...uint64) Spec { return Spec{name, dt, shape} }

// RandomBytes returns n random bytes, none of them zero, so that no
// zero-page shortcut can make a wrong copy look right.
func RandomBytes(r *rand.Rand, n int64) []byte {
	var seed [32]byte
	for i := range 4 {
		binary.LittleEndian.PutUint64(seed[8*i:], r.Uint64())
	}
	b := make([]byte, n)
	rand.NewChaCha8(seed).Read(b)
	for i, x := range b {
		if x == 0 {
			b[i] = 1
		}
	}
	return b
}

// tensorBytes returns n random bytes for a tensor of type dt: finite
// values of the floating types, so that conversions are exact to check,
// and 0 or 1 for BOOL.
func tensorBytes(r *rand.Rand, dt dtype.DType, n int64) []byte {
	b := RandomBytes(r, n)
	switch dt {
	case dtype.BF16, dtype.F16:
		for i := 1; i < len(b); i += 2 {
			b[i] = 0x3c + b[i]&3 // exponent in range: finite values
		}
	case dtype.F32:
		for i := 3; i < len(b); i += 4 {
			b[i] = 0x3f
		}
	case dtype.BOOL:
		for i := range b {
			b[i] &= 1
		}
	}
	return b
}

// WriteFile saves tensors of random bytes to a file in dir and opens it
// (with opts, e.g. loader.WithPread()); the test closes it at its end.
func WriteFile(t testing.TB, dir, name string, seed uint64, specs []Spec, opts ...loader.Option) *loader.File {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 7))
	data := make(map[string]loader.Data, len(specs))
	for _, s := range specs {
		n := uint64(s.DType.Bits())
		for _, d := range s.Shape {
			n *= d
		}
		data[s.Name] = loader.Data{DType: s.DType, Shape: s.Shape, Bytes: tensorBytes(r, s.DType, int64(n/8))}
	}
	path := filepath.Join(dir, name)
	if err := loader.SaveFile(path, data, nil); err != nil {
		t.Fatal(err)
	}
	f, err := loader.Open(path, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// Layered returns the specs of a small model of n layers.
func Layered(n int, dt dtype.DType, rows uint64) []Spec {
	specs := []Spec{Sp("model.embed_tokens.weight", dt, rows, 8), Sp("lm_head.weight", dt, rows, 8),
		Sp("model.norm.weight", dt, 8)}
	for i := range n {
		p := fmt.Sprintf("model.layers.%d.", i)
		specs = append(specs, Sp(p+"self_attn.q_proj.weight", dt, rows, 8), Sp(p+"mlp.up_proj.weight", dt, rows, 16),
			Sp(p+"input_layernorm.weight", dt, 8))
	}
	return specs
}

// Mixed is a file with a bit of everything: a tensor far larger than the
// test chunks, sub-byte and boolean types, an empty tensor and a scalar.
func Mixed() []Spec {
	return append(Layered(4, dtype.BF16, 40),
		Sp("big", dtype.F32, 300, 250),
		Sp("flags", dtype.BOOL, 7, 3),
		Sp("q4", dtype.F4, 16, 6),
		Sp("idx", dtype.I64, 5),
		Sp("bytes", dtype.U8, 13),
		Sp("empty", dtype.F16, 0, 4),
		Sp("scalar", dtype.F32),
	)
}

// ColdSpecs is a file whose tensors sit at offsets that are not multiples
// of the page size, most of them large enough for O_DIRECT reads (64 KiB
// and more), with small tensors between them and an odd-sized last one,
// so that the file ends inside a page.
func ColdSpecs() []Spec {
	return []Spec{
		Sp("a.big", dtype.U8, 70001),
		Sp("a.small", dtype.I8, 13),
		Sp("b.rows", dtype.BF16, 257, 513),
		Sp("c.cols", dtype.F32, 100, 333),
		Sp("d.tiny", dtype.U8, 5),
		Sp("e.vec", dtype.F32, 65537),
		Sp("z.tail", dtype.U8, 300001),
	}
}
