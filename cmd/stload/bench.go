package main

import (
	"io"

	"github.com/stload/stload/bench"
)

var benchCmd = &command{
	name:    "bench",
	summary: "benchmark stload against its peers and the machine's limits",
	usage: `Usage: stload bench COMMAND [flags]

Bench runs the benchmark harness (package bench; also go run ./bench/cmd/stbench):
synthetic checkpoints, the machine's copy and read ceilings, and stload's CPU
(and, in a cuda build, GPU) figures beside its peers, as tables or JSON.
Run "stload bench help" for its commands and "stload bench COMMAND -h" for
their flags. Exit status: 0 on success, 1 on failure, 2 on a usage error.
`,
}

func init() { benchCmd.run = runBench }

// runBench hands the arguments after "bench" to the harness.
func runBench(args []string, stdout, stderr io.Writer) int {
	return bench.Main(args, stdout, stderr)
}
