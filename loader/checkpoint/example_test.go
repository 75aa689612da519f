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

// ExampleSave writes tensors held in Go slices as a transformers-style
// sharded checkpoint and opens it again. A Source says what a tensor is
// and opens its bytes when its turn to be written comes. The files appear
// all or nothing: a save that fails or is killed never leaves a checkpoint
// that Open would take for whole.
func ExampleSave() {
	dir, err := os.MkdirTemp("", "checkpoint")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	var sources []checkpoint.Source
	for _, t := range []struct {
		name   string
		values []float32
	}{
		{"embed.weight", []float32{0.5, -1, 2, 0.25}},
		{"layer.0.weight", []float32{1, 2, 3, 4}},
		{"lm_head.weight", []float32{-0.5, 1.5, 3, -2}},
	} {
		b := dtype.AsBytes(t.values)
		sources = append(sources, checkpoint.Source{
			Spec: loader.Spec{Name: t.name, DType: dtype.F32, Shape: []uint64{2, 2}},
			Open: func() (io.Reader, error) { return bytes.NewReader(b), nil },
		})
	}
	// Three 16-byte tensors with a 40-byte shard limit make two shards.
	ctx := context.Background()
	paths, err := checkpoint.Save(ctx, dir, sources,
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

// ExampleConvert converts a sharded F32 checkpoint to BF16 while writing
// it as one file: each tensor is converted as it streams from the mapped
// input to the output, so the whole needs no more memory than a buffer.
func ExampleConvert() {
	ctx := context.Background()
	c, err := checkpoint.Open(ctx, "testdata/sharded")
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
	dir, err := os.MkdirTemp("", "checkpoint")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
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
		b, err := t.Bytes()
		if err != nil {
			log.Fatal(err)
		}
		values := make([]float32, t.NumElements())
		if err := dtype.ToFloat32(values, b, t.DType); err != nil {
			log.Fatal(err)
		}
		fmt.Println(name, t.DType, t.Shape, t.End-t.Begin, "bytes:", values)
	}
	// Output:
	// embed.weight BF16 [2 2] 8 bytes: [0.5 -1 2 0.25]
	// layer.0.weight BF16 [2 2] 8 bytes: [1 2 3 4]
	// lm_head.weight BF16 [2 2] 8 bytes: [-0.5 1.5 3 -2]
}
