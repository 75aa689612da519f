//go:build !cuda

package bench

import (
	"errors"
	"flag"
	"io"
)

// buildCUDA is the command that builds an stbench with the GPU commands.
const buildCUDA = "go build -tags cuda ./bench/cmd/stbench"

// errNoCUDA is what the GPU commands say in a build without the cuda tag.
var errNoCUDA = errors.New("this binary was built without -tags cuda; build it with: " + buildCUDA)

// gpuCommands are stubs of the GPU commands in a build without the cuda
// tag: they show their help and flags, and say they cannot run.
func gpuCommands() map[string]command {
	return map[string]command{
		"gpu-ceiling": {noGPU(func(fs *flag.FlagSet) { new(ceilingFlags).define(fs) }),
			"measure pinned and pageable host-to-device bandwidth and pinning costs (needs -tags cuda)"},
		"gpu-trial": {noGPU(func(fs *flag.FlagSet) { new(trialFlags).define(fs) }),
			"load files into GPUs once, timed, and print one Trial JSON line (needs -tags cuda)"},
	}
}

// noGPU returns a GPU command of a build without the cuda tag: it shows
// its help, flags defined by define, and says it cannot run.
func noGPU(define func(*flag.FlagSet)) func([]string, io.Writer, io.Writer) error {
	return func(args []string, _, _ io.Writer) error {
		fs := newFlags("gpu")
		define(fs)
		err := parseFlags(fs, args)
		var h helpRequest
		if errors.As(err, &h) {
			h.note = "This stbench was built without -tags cuda: it shows the command's help\n" +
				"but cannot run it. Build one that can with:\n  " + buildCUDA
			return h
		}
		if err != nil {
			return err
		}
		return errNoCUDA
	}
}
