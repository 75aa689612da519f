package checkpoint_test

import (
	"context"
	"fmt"
	"log"
	"path/filepath"

	"github.com/stload/stload/dtype"
	"github.com/stload/stload/loader/checkpoint"
)

// ExampleOpen opens a checkpoint by its directory — the directory, its
// index file, the index's URL or a single .safetensors file would all
// do — and goes through its tensors, whichever shard holds them.
func ExampleOpen() {
	c, err := checkpoint.Open(context.Background(), "testdata/sharded")
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
