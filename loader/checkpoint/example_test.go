package checkpoint_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"

	"github.com/stload/stload/dtype"
	"github.com/stload/stload/loader"
	"github.com/stload/stload/loader/checkpoint"
)

// memorySources returns a Source for each of three small F32 tensors held
// in memory. A Source says what a tensor is and opens its bytes when its
// turn to be written comes.
func memorySources() []checkpoint.Source {
	tensors := []struct {
		name  string
		shape []uint64
		vals  []float32
	}{
		{"embed.weight", []uint64{2, 2}, []float32{0.5, -1, 2, 0.25}},
		{"layer.0.weight", []uint64{4}, []float32{1, 2, 3, 4}},
		{"lm_head.weight", []uint64{2, 2}, []float32{-0.5, 1.5, 3, -2}},
	}
	var sources []checkpoint.Source
	for _, t := range tensors {
		b := make([]byte, 4*len(t.vals))
		if err := dtype.FromFloat32(b, t.vals, dtype.F32); err != nil {
			log.Fatal(err)
		}
		sources = append(sources, checkpoint.Source{
			Spec: loader.Spec{Name: t.name, DType: dtype.F32, Shape: t.shape},
			Open: func() (io.Reader, error) { return bytes.NewReader(b), nil },
		})
	}
	return sources
}

// ExampleOpen opens a checkpoint by its directory — the directory, its
// index file, the index's URL or a single .safetensors file would all
// do — and goes through its tensors, whichever shard holds them.
func ExampleOpen() {
	dir, err := os.MkdirTemp("", "checkpoint")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	// A sharded checkpoint to open: two shards and an index.
	if _, err := checkpoint.Save(ctx, dir, memorySources(), checkpoint.WithMaxShardSize(40)); err != nil {
		log.Fatal(err)
	}

	c, err := checkpoint.Open(ctx, dir)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	for name, t := range c.Tensors() {
		f, _ := c.File(name)
		fmt.Printf("%-15s %v %v in %s\n", name, t.DType, t.Shape, filepath.Base(f.Name()))
	}
	t, err := c.Tensor("lm_head.weight")
	if err != nil {
		log.Fatal(err)
	}
	b, err := t.Bytes()
	if err != nil {
		log.Fatal(err)
	}
	vals := make([]float32, t.NumElements())
	dtype.ToFloat32(vals, b, t.DType)
	fmt.Println("lm_head.weight:", vals)
	// Output:
	// embed.weight    F32 [2 2] in model-00001-of-00002.safetensors
	// layer.0.weight  F32 [4] in model-00001-of-00002.safetensors
	// lm_head.weight  F32 [2 2] in model-00002-of-00002.safetensors
	// lm_head.weight: [-0.5 1.5 3 -2]
}

// ExampleSave writes tensors as a transformers-style sharded checkpoint
// and opens it again. The files appear all or nothing: a save that fails
// or is killed never leaves a checkpoint that Open would take for whole.
func ExampleSave() {
	dir, err := os.MkdirTemp("", "checkpoint")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()

	// Three 16-byte tensors with a 40-byte shard limit make two shards.
	paths, err := checkpoint.Save(ctx, dir, memorySources(),
		checkpoint.WithMaxShardSize(40), checkpoint.WithMetadata(map[string]string{"format": "pt"}))
	if err != nil {
		log.Fatal(err)
	}
	for _, p := range paths {
		fmt.Println(filepath.Base(p))
	}

	c, err := checkpoint.Open(ctx, dir)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	fmt.Println(c.Sharded(), len(c.Files()), "shards,", c.Len(), "tensors,", c.Metadata()["total_size"], "bytes")
	// Output:
	// model-00001-of-00002.safetensors
	// model-00002-of-00002.safetensors
	// model.safetensors.index.json
	// true 2 shards, 3 tensors, 48 bytes
}

// ExampleConvert converts a checkpoint to BF16 while writing it as one
// file: each tensor is converted as it streams from the mapped shards to
// the output, so the whole needs no more memory than a buffer.
func ExampleConvert() {
	dir, err := os.MkdirTemp("", "checkpoint")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	src := filepath.Join(dir, "f32")
	if _, err := checkpoint.Save(ctx, src, memorySources(), checkpoint.WithMaxShardSize(40)); err != nil {
		log.Fatal(err)
	}
	c, err := checkpoint.Open(ctx, src)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	var converted []checkpoint.Source
	for _, s := range c.Sources() {
		cs, err := checkpoint.Convert(s, dtype.BF16)
		if err != nil {
			log.Fatal(err) // an integer tensor, say: kind UnsupportedConversion
		}
		converted = append(converted, cs)
	}
	out := filepath.Join(dir, "model-bf16.safetensors")
	if err := checkpoint.WriteFile(ctx, out, converted, nil); err != nil {
		log.Fatal(err)
	}

	f, err := loader.Open(out)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	for name, t := range f.Tensors() {
		fmt.Println(name, t.DType, t.Shape, t.Len(), "bytes")
	}
	t, _ := f.Tensor("lm_head.weight")
	b, _ := t.Bytes()
	vals := make([]float32, t.NumElements())
	dtype.ToFloat32(vals, b, t.DType)
	fmt.Println("lm_head.weight:", vals)
	// Output:
	// embed.weight BF16 [2 2] 8 bytes
	// layer.0.weight BF16 [4] 8 bytes
	// lm_head.weight BF16 [2 2] 8 bytes
	// lm_head.weight: [-0.5 1.5 3 -2]
}
