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

// saveSharded saves three float32 tensors in dir as a sharded checkpoint:
// two shards and an index.
func saveSharded(dir string) {
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
	_, err := checkpoint.Save(context.Background(), dir, sources, checkpoint.WithMaxShardSize(40))
	if err != nil {
		log.Fatal(err)
	}
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
	saveSharded(dir)

	c, err := checkpoint.Open(context.Background(), dir)
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
	values := make([]float32, t.NumElements())
	if err := dtype.ToFloat32(values, b, t.DType); err != nil {
		log.Fatal(err)
	}
	fmt.Println("lm_head.weight:", values)
	// Output:
	// embed.weight    F32 [2 2] in model-00001-of-00002.safetensors
	// layer.0.weight  F32 [2 2] in model-00001-of-00002.safetensors
	// lm_head.weight  F32 [2 2] in model-00002-of-00002.safetensors
	// lm_head.weight: [-0.5 1.5 3 -2]
}
