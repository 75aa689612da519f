package main

import (
	"context"
	"encoding/json"
	"io"

	"github.com/stload/stload/loader"
	"github.com/stload/stload/loader/httprange"
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
		writeJSON(stdout, errorJSON{OK: false, Kind: loader.Kind(err), Error: errorMessage(err)})
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
// "stload: " (or "stload COMMAND: ") before it, once.
func errorText(err error) string {
	return errorMessage(err) + " [" + loader.Kind(err) + "]"
}

// errorMessage returns err's message as stload prints it, in text or in
// JSON: the one place where errors are redacted, so that none shows a
// password or a token. The loader redacts the URLs it opens
// (httprange.Redact), but a command line also holds arguments that look
// like URLs and are not opened as such: an OUT of convert, a scheme other
// than http(s) ("ftp://user:pw@host/x" is a file name to the loader), a
// --download-dir, and the paths made from them ("http:/user:pw@host" once
// filepath.Clean has joined the slashes), which os errors repeat.
// httprange.RedactText redacts every URL-looking word of the message;
// the errors stload makes hold the arguments as given.
func errorMessage(err error) string { return httprange.RedactText(err.Error()) }

// writeStatus turns the error of writing a command's output (a closed
// pipe, a full disk, a file that failed mid-read) into an exit status.
func writeStatus(ctx context.Context, err error, stderr io.Writer) int {
	if err != nil {
		return failure(ctx, err, false, nil, stderr)
	}
	return exitOK
}
