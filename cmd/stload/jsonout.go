package main

import (
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

// kindOf returns the kind name of err: loader.Kind's name (the
// reference's error variant, or stload's own), or IoError for an error
// that does not come from the loader (a failed write, say).
func kindOf(err error) string {
	if k := loader.Kind(err); k != "" {
		return k
	}
	return "IoError"
}

// failure reports err and returns exit status 1: as one line of JSON on
// stdout when asJSON is set, else as text on stderr.
func failure(err error, asJSON bool, stdout, stderr io.Writer) int {
	if asJSON {
		writeJSON(stdout, errorJSON{OK: false, Kind: kindOf(err), Error: err.Error()})
	} else {
		io.WriteString(stderr, errorText(err)+"\n")
	}
	return exitFail
}

// errorText formats err for a person: the loader's message (which names
// the file, the tensor and the byte offset) and the kind.
func errorText(err error) string {
	return err.Error() + " [" + kindOf(err) + "]"
}
