package main

import (
	"context"
	"encoding/json"
	"io"

	"github.com/stload/stload/loader"
)

// writeJSON writes v as one line of compact JSON. Strings are escaped as
// JSON requires and no more: '<', '>' and '&' are written as they are.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// errorJSON is what the --json outputs print for a failure.
type errorJSON struct {
	OK    bool   `json:"ok"`
	Kind  string `json:"kind"`
	Error string `json:"error"`
}

// failure reports err and returns exit status 1: as one line of JSON on
// stdout when asJSON is set, else as text on stderr. When ctx was
// cancelled (an interrupt), the cancellation is what failed: the error of
// a read it cut short (a closed file, say) is a consequence.
func failure(ctx context.Context, err error, asJSON bool, stdout, stderr io.Writer) int {
	if ctx.Err() != nil {
		err = context.Cause(ctx)
	}
	if asJSON {
		writeJSON(stdout, errorJSON{OK: false, Kind: loader.Kind(err), Error: redact(err.Error())})
	} else {
		io.WriteString(stderr, "stload: "+errorText(err)+"\n")
		if h := hintFor(err); h != "" {
			io.WriteString(stderr, h+"\n")
		}
	}
	return exitFail
}

// errorText formats err for a person: the library's message (which names
// the file, the tensor and the byte offset) and the kind. The caller puts
// "stload: " (or "stload COMMAND: ") before it, once. The message goes
// through redact: a path that looks like a URL, which the library does
// not take for one, is in it as given.
func errorText(err error) string {
	return redact(err.Error()) + " [" + loader.Kind(err) + "]"
}

// writeStatus turns the error of writing a command's output (a closed
// pipe, a full disk, a file that failed mid-read) into an exit status.
func writeStatus(ctx context.Context, err error, stderr io.Writer) int {
	if err != nil {
		return failure(ctx, err, false, nil, stderr)
	}
	return exitOK
}
