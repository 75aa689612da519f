package device

import (
	"fmt"
	"strconv"
	"strings"
)

// GPUBackend is the name of the backend that the cuda package registers
// when stload is built with -tags cuda. A bare index such as "1" names a
// device of this backend.
const GPUBackend = "cuda"

// Device names one device: the CPU, or device Index of the registered
// backend called Backend. The zero value is the CPU.
type Device struct {
	// Backend is the backend's name ("cuda"), or "" for the CPU.
	Backend string
	// Index is the device's ordinal within its backend; 0 for the CPU.
	Index int
}

// CPU returns the host CPU device, which is also the zero Device.
func CPU() Device { return Device{} }

// GPU returns device i of the [GPUBackend] ("cuda:i").
func GPU(i int) Device { return Device{Backend: GPUBackend, Index: i} }

// IsCPU reports whether d is the CPU.
func (d Device) IsCPU() bool { return d.Backend == "" || d.Backend == "cpu" }

// String returns the name users write: "cpu" or "cuda:1".
func (d Device) String() string {
	if d.IsCPU() {
		return "cpu"
	}
	return d.Backend + ":" + strconv.Itoa(d.Index)
}

// canonical maps the spellings of the CPU to the zero Device, so that
// devices compare equal with ==.
func (d Device) canonical() Device {
	if d.IsCPU() {
		return Device{}
	}
	return d
}

// ParseDevice parses one device name as users write it: "cpu"; "cuda"
// (device 0); "cuda:N"; a bare index "N" (cuda:N); or "NAME[:N]" for another
// registered backend. Names are case-insensitive. ParseDevice checks only
// the spelling; whether the device exists is checked when it is used, or
// by [Check].
func ParseDevice(s string) (Device, error) {
	name := strings.ToLower(strings.TrimSpace(s))
	bad := func(why string) (Device, error) {
		return Device{}, &Error{Op: "parse device", Detail: fmt.Sprintf("%q: %s", s, why), Err: ErrBadDevice}
	}
	switch {
	case name == "cpu":
		return Device{}, nil
	case name == "auto":
		return bad(`"auto" names several devices: use ParseDevices or OnAuto`)
	case name == "":
		return bad("empty name")
	}
	backend, index, hasIndex := strings.Cut(name, ":")
	if !hasIndex {
		if n, err := strconv.Atoi(name); err == nil {
			backend, index = GPUBackend, strconv.Itoa(n)
		} else {
			index = "0"
		}
	}
	if !validBackendName(backend) {
		return bad("a backend name is letters, digits and _ (cpu, cuda)")
	}
	n, err := strconv.Atoi(index)
	if err != nil || n < 0 || strconv.Itoa(n) != index {
		return bad("the index after ':' must be a non-negative integer")
	}
	if backend == "cpu" && n != 0 {
		return bad("there is one CPU device, cpu:0")
	}
	return Device{Backend: backend, Index: n}.canonical(), nil
}

func validBackendName(s string) bool {
	if s == "" || s[0] >= '0' && s[0] <= '9' {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// ParseDevices parses a device list: one or more device names separated
// by commas ("cuda:0,cuda:1"), or "auto": every visible device of the GPU
// backend ("cuda") when it is registered and sees at least one device;
// otherwise those of the first other registered backend, in name order,
// that sees any; otherwise just the CPU.
func ParseDevices(s string) ([]Device, error) {
	if strings.EqualFold(strings.TrimSpace(s), "auto") {
		return autoDevices()
	}
	var devs []Device
	for part := range strings.SplitSeq(s, ",") {
		d, err := ParseDevice(part)
		if err != nil {
			return nil, err
		}
		devs = append(devs, d)
	}
	return devs, nil
}

// autoDevices returns the devices "auto" names (see ParseDevices).
func autoDevices() ([]Device, error) {
	names := backends()
	order := make([]string, 0, len(names)+1)
	if _, ok := LookupBackend(GPUBackend); ok {
		order = append(order, GPUBackend)
	}
	for _, n := range names {
		if n != GPUBackend {
			order = append(order, n)
		}
	}
	for _, name := range order {
		b, _ := LookupBackend(name)
		n, err := b.Count()
		if err != nil {
			return nil, &Error{Op: "count devices", Device: name, Err: err}
		}
		if n > 0 {
			devs := make([]Device, n)
			for i := range devs {
				devs[i] = Device{Backend: name, Index: i}
			}
			return devs, nil
		}
	}
	return []Device{{}}, nil
}

// Check reports whether d can be used in this process: its backend is
// registered and its index is below the backend's count. The error for a
// GPU whose backend is missing says what is missing: the import of the
// cuda package, and, in a build without -tags cuda, the tag.
func Check(d Device) error {
	_, err := backendFor(d)
	return err
}

// backendFor returns d's backend after checking the index; nil for the CPU.
func backendFor(d Device) (Backend, error) {
	if d.IsCPU() {
		return nil, nil
	}
	b, ok := LookupBackend(d.Backend)
	if !ok {
		detail := fmt.Sprintf("no %q backend is registered", d.Backend)
		if d.Backend == GPUBackend {
			detail = noGPUBackend()
		} else if names := backends(); len(names) > 0 {
			detail += " (registered: " + strings.Join(names, ", ") + ")"
		}
		return nil, &Error{Op: "open", Device: d.String(), Detail: detail, Err: ErrNoBackend}
	}
	n, err := b.Count()
	if err != nil {
		return nil, &Error{Op: "count devices", Device: d.String(), Err: err}
	}
	if d.Index >= n {
		detail := fmt.Sprintf("%d %s devices visible", n, d.Backend)
		if n > 0 {
			detail += fmt.Sprintf(" (%s:0 to %s:%d)", d.Backend, d.Backend, n-1)
		}
		return nil, &Error{Op: "open", Device: d.String(), Detail: detail, Err: ErrNoDevice}
	}
	return b, nil
}

// noGPUBackend says what a program that asks for a GPU and has no "cuda"
// backend lacks: in a build with -tags cuda, only the import that
// registers the backend; without the tag, the tag too.
func noGPUBackend() string {
	if cudaTag {
		return `this program was built with -tags cuda but does not import the CUDA backend: ` +
			`add import _ "github.com/stload/stload/cuda" to the program`
	}
	return `this build has no CUDA support: import _ "github.com/stload/stload/cuda" ` +
		`in the program and build it with -tags cuda`
}
