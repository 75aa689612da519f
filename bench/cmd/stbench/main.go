// Command stbench runs the stload benchmark harness (package bench) on its
// own, for machines that get a prebuilt binary rather than the stload CLI:
// the GPU script bench/gpu/run.sh runs it on a machine without Go. Build it
// with -tags cuda for the GPU commands.
package main

import (
	"os"

	"github.com/stload/stload/bench"
)

func main() {
	os.Exit(bench.Main(os.Args[1:], os.Stdout, os.Stderr))
}
