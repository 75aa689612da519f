package dense_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"gorgonia.org/tensor"

	"github.com/stload/stload/device"
	"github.com/stload/stload/device/dense"
	"github.com/stload/stload/dtype"
	"github.com/stload/stload/loader"
)

// Load a file onto the CPU and use its tensors as gorgonia tensors: the
// F32 one is a view of the file's mapping, the BF16 one is decoded to
// float32.
func Example() {
	f, err := loader.Open("testdata/example.safetensors")
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	set, err := device.Load(context.Background(), device.Files(f))
	if err != nil {
		log.Fatal(err)
	}
	defer set.Close()
	wt, _ := set.Tensor("layer.weight")
	w, err := dense.Of(wt)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(w.Shape(), w.Data())
	bt, _ := set.Tensor("layer.bias")
	b, err := dense.Float32(bt)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(bt.DType, b.Data())
	// Output:
	// (2, 3) [1 2 3 4 5 6]
	// BF16 [0.5 -1 2]
}

// Save gorgonia tensors to a safetensors file: ToData gives a Dense's
// bytes, typed by its Go type or as the caller names them.
func ExampleToData() {
	dir, err := os.MkdirTemp("", "dense-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	w := tensor.New(tensor.WithShape(2, 3), tensor.WithBacking([]float32{1, 2, 3, 4, 5, 6}))
	b := tensor.New(tensor.WithShape(3), tensor.WithBacking([]uint16{
		dtype.Float32ToBF16(0.5), dtype.Float32ToBF16(-1), dtype.Float32ToBF16(2)}))
	wd, err := dense.ToData(w, dtype.Invalid) // F32, from the Go type
	if err != nil {
		log.Fatal(err)
	}
	bd, err := dense.ToData(b, dtype.BF16) // uint16 bits that are BF16
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(wd.DType, wd.Shape, bd.DType, bd.Shape)
	path := filepath.Join(dir, "model.safetensors")
	if err := loader.SaveFile(path, map[string]loader.Data{"layer.weight": wd, "layer.bias": bd}, nil); err != nil {
		log.Fatal(err)
	}
	// Output:
	// F32 [2 3] BF16 [3]
}
