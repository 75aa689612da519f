// Command stload inspects, validates, dumps, converts and loads
// safetensors files and checkpoints, onto the CPU or NVIDIA GPUs.
//
// Usage:
//
//	stload inspect  [--json] [--sha256] [--wide] [--lenient] INPUT
//	stload validate [--json] [--lenient] INPUT...
//	stload dump     [--slice SPEC] [--raw | --values | --json] [--sha256] [--lenient] INPUT TENSOR
//	stload convert  [--dtype T] [--max-shard-size SIZE] [--lenient] INPUT OUT
//	stload load     [--device DEVICES] [--map PATTERN=DEVICE]... [--shard PATTERN=DIM[@DEVICES]]...
//	                [--dtype T] [--verify] [--json] [--copy] [--dry-run] [--chunk-size SIZE]
//	                [--chunks N] [--readers N] [--streams N] [--lenient] [--pread] [--register] INPUT
//	stload bench    COMMAND [flags]       (runs the separate stbench command)
//	stload version
//	stload help [COMMAND]
//
// INPUT is a safetensors file, a checkpoint directory, a transformers
// index.json, or an http(s) URL of a file or an index. For a URL, every
// reading command also takes --timeout DURATION (the longest one read may
// take), --require-validators (refuse a server that sends no ETag or
// Last-Modified, which is otherwise a warning) and --download-dir DIR
// (where a file whose server does not support ranges is downloaded whole).
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
// arguments), 130 when interrupted (Ctrl-C).
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
)

func main() {
	ctx, stop := interruptContext(os.Stderr)
	code := runEnv(ctx, newEnv(os.Stdout, os.Stderr), os.Args[1:])
	if n, ok := interruptStatus(ctx); ok {
		code = n
	}
	stop()
	os.Exit(code)
}

// Exit statuses.
const (
	exitOK    = 0
	exitFail  = 1 // an invalid file, a failed operation
	exitUsage = 2 // a command line stload does not understand
)

// command is one subcommand of stload.
type command struct {
	name     string
	summary  string // one line for the command list
	synopsis string // one line (≤ 80 columns) for usage errors
	usage    string // the full help text, starting with the synopsis
	run      func(ctx context.Context, e *env, args []string) int
}

// env is what a command runs with besides its arguments: where it writes,
// and what it asks of the machine. The questions are functions so that
// tests can answer them (a buffer that is a terminal, a full disk)
// without package variables.
type env struct {
	stdout, stderr io.Writer
	// terminal reports whether w is a terminal: where progress bars are
	// drawn, dump writes values and validate says "ok".
	terminal func(w io.Writer) bool
	// freeSpace returns the bytes available to an unprivileged user on
	// the file system of dir, or an error where that is unknown.
	freeSpace func(dir string) (int64, error)
}

// newEnv returns the env of a command writing to stdout and stderr on
// this machine.
func newEnv(stdout, stderr io.Writer) *env {
	return &env{stdout: stdout, stderr: stderr, terminal: isTerminal, freeSpace: diskFree}
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
		versionCmd,
		helpCmd,
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
	return runEnv(context.Background(), newEnv(stdout, stderr), args)
}

// runEnv is run with a context that an interrupt cancels, in env e.
func runEnv(ctx context.Context, e *env, args []string) int {
	stderr := e.stderr
	if len(args) == 0 {
		return mainUsageError(fmt.Errorf("missing command (%s)", commandNames()), stderr)
	}
	switch name := args[0]; name {
	case "-h", "-help", "--help":
		return helpCmd.run(ctx, e, args[1:])
	case "-version", "--version":
		return versionCmd.run(ctx, e, args[1:])
	default:
		c := lookup(name)
		if c == nil {
			if strings.HasPrefix(name, "-") {
				return mainUsageError(fmt.Errorf("unknown flag %q: a command must come first", name), stderr)
			}
			return mainUsageError(fmt.Errorf("unknown command %q (%s)", name, commandNames()), stderr)
		}
		return c.run(ctx, e, args[1:])
	}
}

// commandNames lists the commands for an error message.
func commandNames() string {
	var names []string
	for _, c := range commands() {
		names = append(names, c.name)
	}
	return "commands: " + strings.Join(names, ", ")
}

// mainUsageError reports a command line without a usable command: the
// error, the usage line and where to read more, on stderr.
func mainUsageError(err error, stderr io.Writer) int {
	fmt.Fprintf(stderr, "stload: %s\nusage: stload COMMAND [flags] ARGS...\nsee: stload help\n", errorMessage(err))
	return exitUsage
}

var helpCmd = &command{
	name:     "help",
	summary:  `show this help, or "stload help COMMAND" for one command`,
	synopsis: "stload help [COMMAND]",
	usage: `Usage: stload help [COMMAND]

Help prints the list of commands, or the help of COMMAND: its synopsis,
what it does, its flags and its exit status. "stload COMMAND --help" (or -h)
prints the same. Help goes to standard output and exits 0.
`,
}

func init() { helpCmd.run = runHelp }

func runHelp(_ context.Context, e *env, args []string) int {
	stdout, stderr := e.stdout, e.stderr
	fs := newFlags(helpCmd)
	pos, code, ok := parseCommand(helpCmd, fs, args, 0, 1, stdout, stderr)
	if !ok {
		return code
	}
	if len(pos) == 0 {
		io.WriteString(stdout, mainHelp())
		return exitOK
	}
	c := lookup(pos[0])
	if c == nil {
		return usageError(helpCmd, fmt.Errorf("unknown command %q (%s)", pos[0], commandNames()), stdout, stderr)
	}
	io.WriteString(stdout, c.usage)
	return exitOK
}

// mainHelp is the help of stload itself.
func mainHelp() string {
	var b strings.Builder
	b.WriteString(`stload reads, checks, writes and loads safetensors files and checkpoints.

Usage:
	stload COMMAND [flags] ARGS...

Commands:
`)
	for _, c := range commands() {
		fmt.Fprintf(&b, "\t%-9s %s\n", c.name, c.summary)
	}
	b.WriteString(`
INPUT may be a safetensors file, a checkpoint directory, a transformers
index.json, or an http(s) URL of either. Credentials in a URL (user:password,
or any query, such as a presigned URL's signature) are never printed.
Flags may come before or after the arguments; "--" ends the flags.
Sizes are printed in decimal units with one decimal (1 kB = 1,000 bytes,
1 GB = 1e9 bytes), as rates in GB/s are; exact byte counts and parameter
counts have thousands separators.
Exit status: 0 on success, 1 when a file is invalid or an operation fails,
2 on a usage error, 130 when interrupted (Ctrl-C; a second Ctrl-C, half a
second or more after the first, exits at once, without cleaning up).
`)
	return b.String()
}
