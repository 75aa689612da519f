// Command stload inspects, validates, dumps, converts and loads
// safetensors files and checkpoints, onto the CPU or NVIDIA GPUs.
//
// Usage:
//
//	stload inspect  [--json] [--sha256] [--lenient] INPUT
//	stload validate [--json] [--lenient] INPUT...
//	stload dump     [--slice SPEC] [--raw | --values | --json] [--sha256] [--lenient] INPUT TENSOR
//	stload convert  [--dtype bf16|f16|f32] [--max-shard-size SIZE] [--lenient] INPUT OUT
//	stload load     [--device DEVICES] [--map PATTERN=DEVICE]... [--shard PATTERN=DIM[@DEVICES]]...
//	                [--dtype T] [--verify] [--json] [--copy] [--dry-run] [--chunk-size SIZE]
//	                [--chunks N] [--readers N] [--streams N] [--lenient] [--pread] [--register] INPUT
//	stload bench    COMMAND [flags]
//	stload help [COMMAND]
//
// INPUT is a safetensors file, a checkpoint directory, a transformers
// index.json, or an http(s) URL of a file or an index.
//
// GPUs need a build with -tags cuda, which links the NVIDIA driver
// (libcuda.so.1) and starts only on a machine that has one; the default
// build is cgo-free and places tensors on the CPU.
//
// Flags may come before or after the positional arguments; "--" ends the
// flags. Run "stload help COMMAND" for the details of each command.
//
// Exit status: 0 on success, 1 when a file is invalid or an operation
// fails, 2 on a usage error (unknown command or flag, wrong number of
// arguments).
package main

import (
	"fmt"
	"io"
	"os"
	"strings"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// Exit statuses.
const (
	exitOK    = 0
	exitFail  = 1 // an invalid file, a failed operation
	exitUsage = 2 // a command line stload does not understand
)

// command is one subcommand of stload.
type command struct {
	name    string
	summary string // one line for the command list
	usage   string // the full help text, starting with the synopsis
	run     func(args []string, stdout, stderr io.Writer) int
}

// commands lists the subcommands in the order "stload help" shows them.
// A new subcommand is one more entry here and a file of its own.
func commands() []*command {
	return []*command{
		inspectCmd,
		validateCmd,
		dumpCmd,
		convertCmd,
		loadCmd,
		benchCmd,
	}
}

func lookup(name string) *command {
	for _, c := range commands() {
		if c.name == name {
			return c
		}
	}
	return nil
}

// run is the whole program: it runs the command line args (without the
// program name) and returns the exit status. Tests call it directly.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		mainUsage(stderr)
		return exitUsage
	}
	switch name := args[0]; name {
	case "help", "-h", "-help", "--help":
		if name == "help" && len(args) > 1 {
			if len(args) > 2 {
				fmt.Fprintf(stderr, "stload help: too many arguments\n\n")
				mainUsage(stderr)
				return exitUsage
			}
			c := lookup(args[1])
			if c == nil {
				fmt.Fprintf(stderr, "stload help: unknown command %q\n\n", args[1])
				mainUsage(stderr)
				return exitUsage
			}
			io.WriteString(stdout, c.usage)
			return exitOK
		}
		mainUsage(stdout)
		return exitOK
	default:
		c := lookup(name)
		if c == nil {
			if strings.HasPrefix(name, "-") {
				fmt.Fprintf(stderr, "stload: unknown flag %q: a command must come first\n\n", name)
			} else {
				fmt.Fprintf(stderr, "stload: unknown command %q\n\n", name)
			}
			mainUsage(stderr)
			return exitUsage
		}
		return c.run(args[1:], stdout, stderr)
	}
}

func mainUsage(w io.Writer) {
	var b strings.Builder
	b.WriteString(`stload reads, checks, writes and loads safetensors files and checkpoints.

Usage:
	stload COMMAND [flags] ARGS...

Commands:
`)
	for _, c := range commands() {
		fmt.Fprintf(&b, "\t%-9s %s\n", c.name, c.summary)
	}
	b.WriteString(`	help      show this help, or "stload help COMMAND" for one command

INPUT may be a safetensors file, a checkpoint directory, a transformers
index.json, or an http(s) URL of either.
Flags may come before or after the arguments; "--" ends the flags.
Exit status: 0 on success, 1 when a file is invalid or an operation fails,
2 on a usage error.
`)
	io.WriteString(w, b.String())
}
