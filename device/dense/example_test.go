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

// Save gorgonia tensors to a safetensors file, load them onto the CPU and
// use them as gorgonia tensors again: the F32 one is a view of the file's
// mapping, the BF16 one is decoded to float32.
func Example() {
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
	path := filepath.Join(dir, "model.safetensors")
	if err := loader.SaveFile(path, map[string]loader.Data{"w": wd, "b": bd}, nil); err != nil {
		log.Fatal(err)
	}

	f, err := loader.Open(path)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	set, err := device.Load(context.Background(), device.Files(f))
	if err != nil {
		log.Fatal(err)
	}
	defer set.Close()
	wt, _ := set.Tensor("w")
	d, err := dense.Of(wt)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(d.Shape(), d.Data())
	bt, _ := set.Tensor("b")
	bf, err := dense.Float32(bt)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(bt.DType, bf.Data())
	// Output:
	// (2, 3) [1 2 3 4 5 6]
	// BF16 [0.5 -1 2]
}
