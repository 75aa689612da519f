package device_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"log"
	"math"
	"os"
	"path/filepath"

	"github.com/stload/stload/device"
	"github.com/stload/stload/dtype"
	"github.com/stload/stload/loader"
)

// exampleFile writes a small checkpoint and opens it.
func exampleFile() (*loader.File, func()) {
	dir, err := os.MkdirTemp("", "stload-example")
	if err != nil {
		log.Fatal(err)
	}
	f32 := func(v ...float32) []byte {
		b := make([]byte, 4*len(v))
		for i, x := range v {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
		}
		return b
	}
	bf16 := func(v ...float32) []byte {
		b := make([]byte, 2*len(v))
		for i, x := range v {
			binary.LittleEndian.PutUint16(b[2*i:], dtype.Float32ToBF16(x))
		}
		return b
	}
	path := filepath.Join(dir, "model.safetensors")
	err = loader.SaveFile(path, map[string]loader.Data{
		"model.layers.0.w": {DType: dtype.F32, Shape: []uint64{2, 3}, Bytes: f32(1, 2, 3, 4, 5, 6)},
		"model.layers.0.b": {DType: dtype.BF16, Shape: []uint64{3}, Bytes: bf16(0.5, -1, 2)},
	}, nil)
	if err != nil {
		log.Fatal(err)
	}
	f, err := loader.Open(path)
	if err != nil {
		log.Fatal(err)
	}
	return f, func() { f.Close(); os.RemoveAll(dir) }
}

// Load tensors onto the CPU, where they are views of the file's mapping,
// and use them as gorgonia tensors.
func ExampleLoad() {
	f, done := exampleFile()
	defer done()
	set, err := device.Load(context.Background(), []*loader.File{f})
	if err != nil {
		log.Fatal(err)
	}
	defer set.Close()
	w, _ := set.Tensor("model.layers.0.w")
	d, err := w.Dense()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(w.Device, w.DType, d.Shape(), d.Data())
	b, _ := set.Tensor("model.layers.0.b")
	bf, _ := b.DenseFloat32() // BF16 decoded to float32
	fmt.Println(b.DType, bf.Data())
	// Output:
	// cpu F32 (2, 3) [1 2 3 4 5 6]
	// BF16 [0.5 -1 2]
}

// Split a tensor along its last dimension into two shards, converting
// BF16 to F32 on the way. On GPUs the parts would go to different devices
// with one strided copy each; here both land on the CPU.
func ExampleShard() {
	f, done := exampleFile()
	defer done()
	set, err := device.Load(context.Background(), []*loader.File{f},
		device.Shard("*.w", -1, device.CPU(), device.CPU()),
		device.WithDType(dtype.F32))
	if err != nil {
		log.Fatal(err)
	}
	defer set.Close()
	for _, part := range set.Parts("model.layers.0.w") {
		d, _ := part.Dense()
		fmt.Println(part.Shard, part.Shape, d.Data())
	}
	// Output:
	// 0 [2 2] [1 2 4 5]
	// 1 [2 1] [3 6]
}

// Parse device names as users write them.
func ExampleParseDevice() {
	for _, s := range []string{"cpu", "cuda", "cuda:1", "2"} {
		d, _ := device.ParseDevice(s)
		fmt.Println(s, "->", d)
	}
	_, err := device.Load(context.Background(), nil, device.To(device.GPU(0)))
	fmt.Println(err)
	// Output:
	// cpu -> cpu
	// cuda -> cuda:0
	// cuda:1 -> cuda:1
	// 2 -> cuda:2
	// device cuda:0: open: this build has no CUDA support (rebuild with -tags cuda): backend not available
}

// Inspect a plan before loading: what goes where, in how many copies.
func ExampleLoader_Plan() {
	f, done := exampleFile()
	defer done()
	l := device.NewLoader(device.WithCopy())
	defer l.Close()
	p, err := l.Plan([]*loader.File{f})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(p)
	// Output:
	// plan: 1 files, 30 bytes to place, 1 pieces
	//   cpu: 2 tensors, 1 allocations, 30 bytes
}
