package devicetest_test

import (
	"context"
	"fmt"
	"log"

	"github.com/stload/stload/device"
	"github.com/stload/stload/device/devicetest"
	"github.com/stload/stload/dtype"
	"github.com/stload/stload/loader"
)

// Load a file onto a simulated GPU, read back what landed in its memory,
// and check that nothing leaked. A test does the same with Install, which
// registers the backend under a fresh name for the test and runs Check
// when it ends:
//
//	func TestLoad(t *testing.T) {
//		sim := devicetest.Install(t, devicetest.Options{GPUs: 2})
//		set, err := device.Load(ctx, device.Files(f), device.On(sim.Device(0), sim.Device(1)))
//		...
//	}
//
// An example has no *testing.T, so it registers the backend itself.
func Example() {
	sim := devicetest.New(devicetest.Options{Name: "sim"}) // devices sim:0, sim:1...
	unregister := device.Register(sim)
	defer unregister()

	f, err := loader.Open("testdata/example.safetensors")
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()

	set, err := device.Load(context.Background(), device.Files(f),
		device.On(sim.Device(0)), device.WithDType(dtype.BF16))
	if err != nil {
		log.Fatal(err)
	}
	t, _ := set.Tensor("layer.weight")
	// The tensor's bytes in the simulated device memory, as a test reads them.
	b := sim.Bytes(t.Memory)[t.Offset : t.Offset+t.Len]
	values := make([]float32, 6)
	if err := dtype.ToFloat32(values, b, t.DType); err != nil {
		log.Fatal(err)
	}
	fmt.Println(t.Device, t.DType, t.Len, "bytes:", values)

	set.Close()
	fmt.Println("check:", sim.Check()) // after Close: nothing leaked, no copy broke a rule
	// Output:
	// sim:0 BF16 12 bytes: [1 2 3 4 5 6]
	// check: <nil>
}
