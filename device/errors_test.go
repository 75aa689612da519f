package device

import (
	"context"
	"fmt"
	"io/fs"
	"testing"

	"github.com/stload/stload/loader"
)

// TestErrorKinds: every sentinel has the kind the command's --json
// reports, through loader.Kind, also when wrapped.
func TestErrorKinds(t *testing.T) {
	for err, want := range map[error]string{
		ErrBadDevice: "BadDevice", ErrNoBackend: "NoBackend", ErrNoDevice: "NoDevice",
		ErrPlacement: "InvalidPlacement", ErrOutOfMemory: "OutOfMemory",
		ErrMismatch: "Mismatch", ErrNotOnCPU: "NotOnCPU", fs.ErrClosed: "Closed",
	} {
		wrapped := &Error{Op: "load", Device: "cuda:0", Err: fmt.Errorf("%w: detail", err)}
		if got := loader.Kind(wrapped); got != want {
			t.Errorf("%v: kind %q, want %q", err, got, want)
		}
	}
	if got := loader.Kind(&Error{Op: "load", Err: context.Canceled}); got != "Canceled" {
		t.Errorf("cancelled load: kind %q", got)
	}
}

// TestErrorText: no "stload: " prefix, and a loader error inside does not
// repeat the file or tensor.
func TestErrorText(t *testing.T) {
	tests := []struct {
		err  *Error
		want string
	}{
		{&Error{Op: "read", File: "f", Tensor: "t", Detail: "at byte 9", Err: &loader.Error{File: "f", Err: fs.ErrClosed}},
			`f: tensor "t": read: at byte 9: file already closed`},
		{&Error{Op: "read", File: "f", Tensor: "t", Err: &loader.Error{File: "f", Tensor: "t", Err: loader.ErrTensorNotFound}},
			`f: tensor "t": read: tensor not found`},
		{&Error{Op: "read", File: "f", Err: &loader.Error{File: "g", Err: fs.ErrClosed}},
			`f: read: g: file already closed`},
		{&Error{Op: "open", Device: "cuda:1", Err: ErrNoDevice}, "device cuda:1: open: no such device"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("got  %s\nwant %s", got, tt.want)
		}
	}
}
