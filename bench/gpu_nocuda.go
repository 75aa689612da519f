//go:build !cuda

package bench

import (
	"errors"
	"io"
)

// errNoCUDA is what the GPU commands say in a build without the cuda tag.
var errNoCUDA = errors.New("this binary was built without -tags cuda; build it with: go build -tags cuda ./bench/cmd/stbench")

func init() {
	noGPU := func([]string, io.Writer, io.Writer) error { return errNoCUDA }
	commands["gpu-ceiling"] = command{noGPU, "GPU host-to-device ceilings (needs -tags cuda)"}
	commands["gpu-trial"] = command{noGPU, "one timed load into a GPU in this process (needs -tags cuda)"}
}
