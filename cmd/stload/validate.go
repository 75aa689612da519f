package main

import (
	"bufio"
	"context"
	"fmt"

	"github.com/stload/stload/loader"
)

var validateCmd = &command{
	name:     "validate",
	summary:  "check files and checkpoints against the safetensors format",
	synopsis: "stload validate [--json] [--lenient] INPUT...",
	usage: `Usage: stload validate [--json] [--lenient] INPUT...

Validate runs every check of the reference implementation, in its order,
plus stload's stricter ones (no duplicate keys, tensor entries must be JSON
objects) on each INPUT. A checkpoint (a directory, an index file, or the URL
of one) is validated whole: the index file, every shard, and weight_map
against the shards' headers (every listed tensor in its shard, none missing
or extra, none in two shards, metadata.total_size equal to the shards'
tensor bytes when present). It prints one line for each invalid input,
naming the input, what is wrong and where:

  INPUT: KIND: MESSAGE

where KIND is the reference's error variant (InvalidOffset, ...) or
stload's own (DuplicateKey, EntryNotObject, NoCheckpoint, InvalidIndex,
ShardMissing, WeightMapMismatch, InsecurePath, RangeUnsupported,
RemoteChanged, NoValidators, DeadlineExceeded, IoError) and MESSAGE
names the file (the shard or index concerned), the tensor and the byte
offset where there are some. For a valid input it prints "INPUT: ok"
when standard output is a terminal, and nothing when it is a pipe or a
file (so that only problems reach a script).

` + inputHelp + `
Exit status: 0 when every input is valid, 1 when any is not, 2 on a usage
error.

Flags:
  --json     print one line of JSON per input, valid or not:
             {"file":..,"ok":true} or {"file":..,"ok":false,"kind":..,"error":..}
  --lenient  accept what the reference accepts and stload rejects by default:
             duplicate tensor names or metadata keys (the last one wins) and
             tensor entries written as positional arrays.
`,
}

func init() { validateCmd.run = runValidate }

// validateJSON is one line of validate's --json output.
type validateJSON struct {
	File  string `json:"file"`
	OK    bool   `json:"ok"`
	Kind  string `json:"kind,omitempty"`
	Error string `json:"error,omitempty"`
}

func runValidate(ctx context.Context, e *env, args []string) int {
	stdout, stderr := e.stdout, e.stderr
	var asJSON bool
	var in inputOptions
	fs := newFlags(validateCmd)
	fs.BoolVar(&asJSON, "json", false, "")
	addInputFlags(fs, &in)
	files, code, ok := parseCommand(validateCmd, fs, args, 1, -1, stdout, stderr)
	if !ok {
		return code
	}
	bw := bufio.NewWriter(stdout)
	status := exitOK
	sayOK := e.terminal(stdout)
	for _, file := range files {
		if ctx.Err() != nil {
			bw.Flush()
			return failure(ctx, ctx.Err(), asJSON, stdout, stderr)
		}
		c, err := openInput(ctx, e, file, in)
		if err == nil {
			c.Close()
		} else {
			status = exitFail
		}
		switch name := shown(file); {
		case asJSON && err == nil:
			writeJSON(bw, validateJSON{File: name, OK: true})
		case asJSON:
			writeJSON(bw, validateJSON{File: name, OK: false, Kind: loader.Kind(err), Error: errorMessage(err)})
		case err != nil:
			fmt.Fprintf(bw, "%s: %s: %s\n", name, loader.Kind(err), errorMessage(errorDetail(err, name)))
		case sayOK:
			fmt.Fprintf(bw, "%s: ok\n", name)
		}
		if sayOK {
			bw.Flush() // one line at a time on a terminal
		}
	}
	if err := bw.Flush(); err != nil {
		return writeStatus(ctx, err, stderr)
	}
	return status
}

// errorDetail returns err without the file's name, which a validate line
// already starts with, as name (shown).
func errorDetail(err error, name string) error {
	if e, ok := err.(*loader.Error); ok && shown(e.File) == name {
		c := *e
		c.File = ""
		return &c
	}
	return err
}
