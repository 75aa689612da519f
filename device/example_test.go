package device_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/stload/stload/device"
	"github.com/stload/stload/device/devicetest"
	"github.com/stload/stload/dtype"
	"github.com/stload/stload/loader"
)

// Load a file's tensors onto the CPU, where they are views of the file's
// mapping (nothing is copied), and decode their bytes to float32 values.
// (A *checkpoint.Checkpoint from package loader/checkpoint is a Source
// too: pass it instead of device.Files to load whatever checkpoint.Open
// opened.)
func ExampleLoad() {
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
	for t := range set.All() {
		values := make([]float32, t.Len/int64(t.DType.Size()))
		if err := dtype.ToFloat32(values, t.Bytes(), t.DType); err != nil {
			log.Fatal(err)
		}
		fmt.Println(t.Name, t.Device, t.DType, t.Shape, values)
	}
	fmt.Println(set.Stats().Copied, "bytes copied")
	// Output:
	// layer.weight cpu F32 [2 3] [1 2 3 4 5 6]
	// layer.bias cpu BF16 [3] [0.5 -1 2]
	// 0 bytes copied
}

// Load onto a GPU, converting BF16 to F16 on the way. A real program
// imports the CUDA backend for its side effect and is built with
// -tags cuda:
//
//	import _ "github.com/stload/stload/cuda"
//
// This example registers the simulated backend of package devicetest
// under the same name, "cuda", so that it runs anywhere.
func ExampleLoad_gpu() {
	defer device.Register(devicetest.New(devicetest.Options{Name: "cuda"}))()

	f, err := loader.Open("testdata/example.safetensors")
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()

	set, err := device.Load(context.Background(), device.Files(f),
		device.On(device.GPU(0)), device.WithDType(dtype.F16))
	if err != nil {
		log.Fatal(err)
	}
	defer set.Close()
	for t := range set.All() {
		// t.Ptr() is the device address to hand to kernels.
		fmt.Println(t.Name, t.Device, t.DType, t.Len, "bytes, device memory:", t.Memory != nil)
	}
	// Verify reads every tensor back and compares it with the file.
	fmt.Println("verify:", set.Verify(context.Background()))
	// Output:
	// layer.weight cuda:0 F16 12 bytes, device memory: true
	// layer.bias cuda:0 F16 6 bytes, device memory: true
	// verify: <nil>
}

// Cancel a load with its context: the readers stop, copies in flight are
// waited for, everything allocated is freed, and the error wraps
// ctx.Err(). Here the progress callback cancels on its first call; a
// program would rather use signal.NotifyContext or a deadline.
func ExampleLoad_cancel() {
	// A simulated GPU whose copies take up to 20 ms, so that the load
	// is still running when it is cancelled.
	sim := devicetest.New(devicetest.Options{Delay: 20 * time.Millisecond})
	defer device.Register(sim)()

	dir, err := os.MkdirTemp("", "stload-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "big.safetensors") // 4 MiB: a thousand chunks of 4 KiB
	big := loader.Data{DType: dtype.F32, Shape: []uint64{1024, 1024}, Bytes: make([]byte, 4<<20)}
	if err := loader.SaveFile(path, map[string]loader.Data{"embed": big}, nil); err != nil {
		log.Fatal(err)
	}
	f, err := loader.Open(path)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	set, err := device.Load(ctx, device.Files(f), device.On(sim.Device(0)),
		device.WithChunkSize(4<<10), device.WithProgress(func(done, total int64) { cancel() }, time.Millisecond))
	if err == nil {
		set.Close()
	}
	fmt.Println(set == nil, errors.Is(err, context.Canceled))
	// Output:
	// true true
}

// Load only some tensors, by name (Only) or by a predicate (Select), as a
// per-tensor get_tensor does in Python; the others are not read.
func ExampleOnly() {
	f, err := loader.Open("testdata/example.safetensors")
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()

	set, err := device.Load(context.Background(), device.Files(f),
		device.Only("layer.bias"), device.WithCopy())
	if err != nil {
		log.Fatal(err)
	}
	defer set.Close()
	for t := range set.All() {
		fmt.Println(t.Name, t.Shape)
	}
	fmt.Println(set.Stats().Copied, "bytes copied")
	_, err = device.Load(context.Background(), device.Files(f), device.Only("lm_head.weight"))
	fmt.Println(errors.Is(err, loader.ErrTensorNotFound))
	// Output:
	// layer.bias [3]
	// 6 bytes copied
	// true
}

// Split a tensor, [[1 2 3] [4 5 6]], along its last dimension into two
// shards. On GPUs the parts would go to different devices with one strided
// copy each; here both land on the CPU.
func ExampleShard() {
	f, err := loader.Open("testdata/example.safetensors")
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()

	set, err := device.Load(context.Background(), device.Files(f),
		device.Shard("*.weight", -1, device.CPU(), device.CPU()))
	if err != nil {
		log.Fatal(err)
	}
	defer set.Close()
	for _, part := range set.Parts("layer.weight") {
		values := make([]float32, part.Len/4)
		if err := dtype.ToFloat32(values, part.Bytes(), part.DType); err != nil {
			log.Fatal(err)
		}
		fmt.Println(part.Shard, part.Shape, values)
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
	// A GPU needs the cuda package in the program: without it, the load
	// fails with ErrNoBackend, whose message says what to add.
	_, err := device.Load(context.Background(), device.Files(), device.On(device.GPU(0)))
	fmt.Println(errors.Is(err, device.ErrNoBackend))
	// Output:
	// cpu -> cpu
	// cuda -> cuda:0
	// cuda:1 -> cuda:1
	// 2 -> cuda:2
	// true
}

// Inspect a plan before loading: what goes where, in how many copies.
func ExamplePlacer_Plan() {
	f, err := loader.Open("testdata/example.safetensors")
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()

	p := device.NewPlacer(device.WithCopy())
	defer p.Close()
	plan, err := p.Plan(device.Files(f))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(plan)
	// Output:
	// plan: 1 files, 30 bytes to place, 1 pieces
	//   cpu: 2 tensors, 1 allocations, 30 bytes
}
