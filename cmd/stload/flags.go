package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// newFlags returns a flag set for command c that reports nothing itself:
// parseArgs turns its errors into stload's usage errors.
func newFlags(c *command) *flag.FlagSet {
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// parseArgs parses args with fs, letting flags and positional arguments
// come in any order (the flag package alone stops at the first positional
// argument, so "stload inspect FILE --json" would take "--json" for a file
// name). Everything after "--" is positional. It returns the positional
// arguments, or an error that wraps flag.ErrHelp for -h and -help.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		// fs.Parse consumed args[:used]; it stops either at a positional
		// argument or just after a "--" terminator.
		if used := len(args) - len(rest); used > 0 && args[used-1] == "--" && !isFlagValue(fs, args[:used]) {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// isFlagValue reports whether the last element of consumed, a "--", was
// taken as the value of the flag before it ("--slice --") rather than as
// the end of the flags.
func isFlagValue(fs *flag.FlagSet, consumed []string) bool {
	if len(consumed) < 2 {
		return false
	}
	prev := consumed[len(consumed)-2]
	name := strings.TrimLeft(prev, "-")
	// Not a flag (a value such as "slice" in "--slice slice --" is none),
	// or "--flag=v" whose value is inline.
	if dashes := len(prev) - len(name); name == "" || dashes < 1 || dashes > 2 || strings.Contains(name, "=") {
		return false
	}
	f := fs.Lookup(name)
	if f == nil {
		return false
	}
	if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
		return false
	}
	return true
}

// usageError reports a command line problem: the error, the command's
// one-line synopsis and where its help is, on stderr, and exit status 2.
// For -h, -help and --help it prints the help on stdout and returns 0.
func usageError(c *command, err error, stdout, stderr io.Writer) int {
	if errors.Is(err, flag.ErrHelp) {
		io.WriteString(stdout, c.usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "stload %s: %s\nusage: %s\nsee: stload help %s\n", c.name, errorMessage(err), c.synopsis, c.name)
	return exitUsage
}

// parseCommand parses args for c and checks the number of positional
// arguments is within [min, max] (max < 0: no limit). It returns the
// positional arguments and, when the command line is not usable, the
// exit status to return.
func parseCommand(c *command, fs *flag.FlagSet, args []string, lo, hi int, stdout, stderr io.Writer) ([]string, int, bool) {
	pos, err := parseArgs(fs, args)
	if err == nil {
		switch {
		case len(pos) < lo:
			err = fmt.Errorf("missing arguments: want %s", argCount(lo, hi))
		case hi >= 0 && len(pos) > hi:
			err = fmt.Errorf("too many arguments: want %s, got %d", argCount(lo, hi), len(pos))
		}
	}
	if err != nil {
		return nil, usageError(c, err, stdout, stderr), false
	}
	return pos, exitOK, true
}

func argCount(lo, hi int) string {
	switch {
	case hi < 0:
		return fmt.Sprintf("at least %d", lo)
	case lo == hi:
		return fmt.Sprintf("%d", lo)
	}
	return fmt.Sprintf("%d to %d", lo, hi)
}
