package main

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
)

var benchCmd = &command{
	name:     "bench",
	summary:  "run the benchmark harness (the separate stbench command)",
	synopsis: "stload bench COMMAND [flags]",
	usage: `Usage: stload bench COMMAND [flags]

The benchmark harness (package bench: synthetic checkpoints, the machine's
copy and read ceilings, and stload's CPU and GPU figures beside its peers)
is a command of its own, stbench, so that stload does not link it nor the
peers it measures. "stload bench ARGS..." runs the stbench found next to
the stload executable, else on PATH, with ARGS, and exits with its status.
Without one, it says how to get it:

  go run ./bench/cmd/stbench help          # from a source tree
  go install ./bench/cmd/stbench           # then: stload bench ...
  go build -tags cuda ./bench/cmd/stbench  # the GPU benchmarks

Run "stload bench help" for its commands and "stload bench COMMAND -h"
for their flags. Exit status: stbench's, or 2 when there is none.
`,
}

func init() { benchCmd.run = runBench }

// stbenchMissing is what stload bench prints when it finds no stbench.
const stbenchMissing = `stload bench: the benchmark harness is the separate command stbench, and
there is none next to stload nor on PATH. From a source tree:
  go run ./bench/cmd/stbench ARGS...   (or: go install ./bench/cmd/stbench)
`

// runBench runs stbench with the arguments after "bench". "bench",
// "bench -h" and, without stbench, any help request print stload's help
// of it.
func runBench(ctx context.Context, e *env, args []string) int {
	stdout, stderr := e.stdout, e.stderr
	exe, _ := os.Executable()
	path, err := findStbench(filepath.Dir(exe))
	help := len(args) == 1 && isHelpArg(args[0])
	if err != nil && (len(args) > 0 && args[0] == "help" || slices.ContainsFunc(args, isHelpArg)) {
		help = true
	}
	if help {
		io.WriteString(stdout, benchCmd.usage)
		return exitOK
	}
	if err != nil {
		io.WriteString(stderr, stbenchMissing)
		return exitUsage
	}
	// Not bound to ctx: a Ctrl-C reaches stbench from the terminal too
	// (one process group), and stbench handles it as it sees fit.
	cmd := exec.Command(path, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, stdout, stderr
	err = cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit) && exit.ExitCode() >= 0:
		return exit.ExitCode()
	case err != nil:
		return failure(ctx, err, false, stdout, stderr)
	}
	return exitOK
}

// isHelpArg reports whether arg asks for help.
func isHelpArg(arg string) bool {
	return arg == "-h" || arg == "-help" || arg == "--help"
}

// findStbench returns the path of the stbench executable in dir (where
// the stload executable is: go install puts both in GOBIN), else on PATH.
func findStbench(dir string) (string, error) {
	if dir != "" {
		p := filepath.Join(dir, "stbench")
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return exec.LookPath("stbench")
}
