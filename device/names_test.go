package device_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/stload/stload/device"
	"github.com/stload/stload/device/devicetest"
	"github.com/stload/stload/loader"
)

func TestParseDevice(t *testing.T) {
	tests := []struct {
		in   string
		want device.Device
		bad  bool
	}{
		{in: "cpu", want: device.Device{}},
		{in: "CPU", want: device.Device{}},
		{in: "cpu:0", want: device.Device{}},
		{in: "cuda", want: device.GPU(0)},
		{in: "cuda:0", want: device.GPU(0)},
		{in: "cuda:3", want: device.GPU(3)},
		{in: " Cuda:12 ", want: device.GPU(12)},
		{in: "1", want: device.GPU(1)},
		{in: "0", want: device.GPU(0)},
		{in: "sim7:2", want: device.Device{Backend: "sim7", Index: 2}},
		{in: "", bad: true},
		{in: "auto", bad: true},
		{in: "cuda:", bad: true},
		{in: "cuda:-1", bad: true},
		{in: "cuda:01", bad: true},
		{in: "cuda:x", bad: true},
		{in: "-1", bad: true},
		{in: "cpu:1", bad: true},
		{in: "gp-u:0", bad: true},
	}
	for _, tt := range tests {
		got, err := device.ParseDevice(tt.in)
		if tt.bad {
			if !errors.Is(err, device.ErrBadDevice) {
				t.Errorf("ParseDevice(%q) = %v, %v; want ErrBadDevice", tt.in, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseDevice(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
		if again, err := device.ParseDevice(got.String()); err != nil || again != got {
			t.Errorf("round trip of %v: %v, %v", got, again, err)
		}
	}
}

// TestCheckWithoutBackend asks for a GPU in a program that does not import
// the cuda package: the error must say what is missing, the import and,
// in a build without -tags cuda, the tag. (go test -tags cuda ./device
// runs it in the tagged build, which compiles here without a GPU.)
func TestCheckWithoutBackend(t *testing.T) {
	err := device.Check(device.GPU(0))
	want := []string{"device cuda:0", `import _ "github.com/stload/stload/cuda"`, "build it with -tags cuda"}
	if device.CUDATag {
		want = []string{"device cuda:0", "was built with -tags cuda but does not import the CUDA backend",
			`add import _ "github.com/stload/stload/cuda"`}
	}
	if !errors.Is(err, device.ErrNoBackend) || loader.Kind(err) != "NoBackend" {
		t.Errorf("Check(cuda:0) without a backend = %v; want ErrNoBackend", err)
	}
	for _, w := range want {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("Check(cuda:0) = %v; want it to say %q", err, w)
		}
	}
	if err := device.Check(device.CPU()); err != nil {
		t.Errorf("Check(cpu) = %v", err)
	}
	_, err = device.Load(t.Context(), device.Files(), device.On(device.GPU(1)))
	if !errors.Is(err, device.ErrNoBackend) {
		t.Errorf("Load to cuda:1 without a backend = %v", err)
	}
}

func TestCheckIndex(t *testing.T) {
	s := install(t, 2, 1<<30, 0)
	if err := device.Check(s.Device(1)); err != nil {
		t.Errorf("Check(%v) = %v", s.Device(1), err)
	}
	err := device.Check(s.Device(2))
	if !errors.Is(err, device.ErrNoDevice) || !strings.Contains(err.Error(), s.Name()+":2") {
		t.Errorf("Check(%v) = %v; want ErrNoDevice naming it", s.Device(2), err)
	}
}

func TestAuto(t *testing.T) {
	devs, err := device.ParseDevices("auto")
	if err != nil || len(devs) != 1 || !devs[0].IsCPU() {
		t.Fatalf("auto with no backend = %v, %v; want [cpu]", devs, err)
	}
	s := install(t, 3, 1<<30, 0)
	devs, err = device.ParseDevices("auto")
	if err != nil || len(devs) != 3 || devs[2] != s.Device(2) {
		t.Errorf("auto with a 3-device backend = %v, %v", devs, err)
	}
	devs, err = device.ParseDevices("cpu, 1")
	if err != nil || len(devs) != 2 || devs[1] != device.GPU(1) {
		t.Errorf("ParseDevices(cpu, 1) = %v, %v", devs, err)
	}
}

func TestParseRules(t *testing.T) {
	if _, err := device.ParseMap("*.weight=cuda:1"); err != nil {
		t.Error(err)
	}
	for _, bad := range []string{"nodevice", "=cpu", "[=cpu", "x=gpu:z"} {
		if _, err := device.ParseMap(bad); err == nil {
			t.Errorf("ParseMap(%q) accepted", bad)
		}
	}
	if _, err := device.ParseShard("*.q_proj.weight=0@cuda:0,cuda:1"); err != nil {
		t.Error(err)
	}
	if _, err := device.ParseShard("*.weight=-1"); err != nil {
		t.Error(err)
	}
	for _, bad := range []string{"x", "x=a", "[=0", "x=0@bogus:q"} {
		if _, err := device.ParseShard(bad); err == nil {
			t.Errorf("ParseShard(%q) accepted", bad)
		}
	}
}

// TestOptionLimits checks the options that take a count or size: at the
// limit they set the config, below it they fail naming themselves.
func TestOptionLimits(t *testing.T) {
	for _, tt := range []struct {
		name  string
		opt   func(int) device.Option
		least int
		field func(device.Geometry) int
	}{
		{"WithChunkSize", device.WithChunkSize, device.MinChunkSize, func(g device.Geometry) int { return g.ChunkSize }},
		{"WithChunks", device.WithChunks, 1, func(g device.Geometry) int { return g.Chunks }},
		{"WithReaders", device.WithReaders, 1, func(g device.Geometry) int { return g.Readers }},
		{"WithStreams", device.WithStreams, 1, func(g device.Geometry) int { return g.Streams }},
	} {
		if g, err := device.GeometryOf(tt.opt(tt.least)); err != nil || tt.field(g) != tt.least {
			t.Errorf("%s(%d): err %v, field %d", tt.name, tt.least, err, tt.field(g))
		}
		_, err := device.GeometryOf(tt.opt(tt.least - 1))
		if !errors.Is(err, device.ErrPlacement) || !strings.Contains(err.Error(), tt.name) {
			t.Errorf("%s(%d): err %v", tt.name, tt.least-1, err)
		}
	}
}

// TestRegister: Register returns the function that removes the backend,
// which may be called twice; a name registered twice panics.
func TestRegister(t *testing.T) {
	b := devicetest.New(devicetest.Options{})
	unregister := device.Register(b)
	if got, ok := device.LookupBackend(b.Name()); !ok || got != device.Backend(b) {
		t.Fatalf("LookupBackend(%q) = %v, %v", b.Name(), got, ok)
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("a second Register of the same name did not panic")
			}
		}()
		device.Register(devicetest.New(devicetest.Options{Name: b.Name()}))
	}()
	unregister()
	unregister()
	if _, ok := device.LookupBackend(b.Name()); ok {
		t.Error("the backend is still registered")
	}
	defer device.Register(b)() // the name is free again
}
