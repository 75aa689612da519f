package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/stload/stload/device"
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

// deviceKinds names the errors of the device layer, and a cancelled
// operation, for kindOf.
var deviceKinds = []struct {
	err  error
	kind string
}{
	{device.ErrBadDevice, "BadDevice"},
	{device.ErrNoBackend, "NoBackend"},
	{device.ErrNoDevice, "NoDevice"},
	{device.ErrPlacement, "InvalidPlacement"},
	{device.ErrConvert, "UnsupportedConversion"},
	{device.ErrOutOfMemory, "OutOfMemory"},
	{device.ErrMismatch, "Mismatch"},
	{device.ErrNotOnCPU, "NotOnCPU"},
	{device.ErrClosed, "Closed"},
	{context.Canceled, "Canceled"},
	{context.DeadlineExceeded, "DeadlineExceeded"},
}

// kindOf returns the kind name of err: loader.Kind's name (the
// reference's error variant, or stload's own), else the device layer's
// (NoBackend, NoDevice, InvalidPlacement, OutOfMemory, Mismatch, ...) or
// Canceled, or IoError for any other error (a failed write, say).
func kindOf(err error) string {
	if k := loader.Kind(err); k != "" {
		return k
	}
	for _, k := range deviceKinds {
		if errors.Is(err, k.err) {
			return k.kind
		}
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

// writeStatus turns the error of writing a command's output (a closed
// pipe, a full disk, a file that failed mid-read) into an exit status.
func writeStatus(err error, stderr io.Writer) int {
	if err != nil {
		fmt.Fprintf(stderr, "%s\n", errorText(err))
		return exitFail
	}
	return exitOK
}
