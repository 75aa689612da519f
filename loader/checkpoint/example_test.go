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

// ExampleOpen writes a small model as a transformers-style
// sharded checkpoint, opens it by its directory and reads a tensor from
// whichever shard holds it.
func ExampleOpen() {
	dir, err := os.MkdirTemp("", "checkpoint")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	// Three 16-byte tensors with a 40-byte shard limit make two shards.
	weights := map[string]loader.Data{
		"embed.weight":   {DType: dtype.F32, Shape: []uint64{2, 2}, Bytes: make([]byte, 16)},
		"layer.0.weight": {DType: dtype.F32, Shape: []uint64{4}, Bytes: make([]byte, 16)},
		"lm_head.weight": {DType: dtype.F32, Shape: []uint64{2, 2}, Bytes: []byte("0123456789abcdef")},
	}
	// A Source says what a tensor is and opens its bytes when its turn
	// comes; here they are in memory.
	var sources []checkpoint.Source
	for _, name := range []string{"embed.weight", "layer.0.weight", "lm_head.weight"} {
		d := weights[name]
		sources = append(sources, checkpoint.Source{
			Spec: loader.Spec{Name: name, DType: d.DType, Shape: d.Shape},
			Open: func() (io.Reader, error) { return bytes.NewReader(d.Bytes), nil },
		})
	}
	out := filepath.Join(dir, "model")
	os.Mkdir(out, 0o755)
	ctx := context.Background()
	if _, err := checkpoint.Save(ctx, out, sources, checkpoint.WithMaxShardSize(40)); err != nil {
		log.Fatal(err)
	}

	c, err := checkpoint.Open(ctx, out) // the directory; its index, or the index's URL, would do
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	for _, f := range c.Files() {
		var names []string
		for name := range f.Tensors() {
			names = append(names, name)
		}
		fmt.Println(filepath.Base(f.Name()), names)
	}
	fmt.Println(c.Metadata()["total_size"], "bytes in", c.Len(), "tensors")
	t, err := c.Tensor("lm_head.weight")
	if err != nil {
		log.Fatal(err)
	}
	b, _ := t.Bytes()
	fmt.Printf("%s %v %q\n", t.DType, t.Shape, b)
	// Output:
	// model-00001-of-00002.safetensors [embed.weight layer.0.weight]
	// model-00002-of-00002.safetensors [lm_head.weight]
	// 48 bytes in 3 tensors
	// F32 [2 2] "0123456789abcdef"
}
