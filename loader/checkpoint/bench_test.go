package checkpoint

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/stload/stload/dtype"
	"github.com/stload/stload/loader"
)

// BenchmarkCopySources copies every tensor of a page-cached 1 GiB file
// (64 BF16 tensors of 16 MiB) through SourceOf into a Writer from
// loader.CreateFile, as WriteFile does, and abandons it rather than
// committing, so that fsync does not swamp the copies being measured.
func BenchmarkCopySources(b *testing.B) {
	path := filepath.Join(b.TempDir(), "big.safetensors")
	specs := make([]loader.Spec, 64)
	for i := range specs {
		specs[i] = loader.Spec{Name: fmt.Sprintf("layers.%d.weight", i), DType: dtype.BF16, Shape: []uint64{4096, 2048}}
	}
	w, err := loader.CreateFile(path, specs, nil)
	if err != nil {
		b.Fatal(err)
	}
	chunk := make([]byte, 16<<20)
	r := rand.New(rand.NewPCG(3, 4))
	for range specs {
		for j := range chunk {
			chunk[j] = byte(r.Uint32())
		}
		w.Write(chunk)
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	for _, mode := range []struct {
		name string
		opts []loader.Option
	}{{"mmap", nil}, {"pread", []loader.Option{loader.WithPread()}}} {
		b.Run(mode.name, func(b *testing.B) {
			c, err := Open(b.Context(), path, WithLoaderOptions(mode.opts...))
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			srcs := c.Sources()
			buf := make([]byte, copyBufSize)
			b.SetBytes(c.TotalSize())
			for b.Loop() {
				order := writeOrder(srcs, nil)
				w, err := loader.CreateFile(filepath.Join(dir, "out.safetensors"), specsIn(srcs, order), nil)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := copySources(b.Context(), w, srcs, order, buf); err != nil {
					b.Fatal(err)
				}
				abandon(w, true)
			}
		})
	}
}
