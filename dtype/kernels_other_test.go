//go:build purego || !amd64

package dtype

func benchKernels() []benchKernel { return goKernels() }
