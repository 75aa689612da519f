package loader

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"testing"
)

// TestKind covers the kinds of errors that carry no sentinel of this
// package, and nested ones.
func TestKind(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{nil, ""},
		{errors.New("disk on fire"), "IoError"},
		{&Error{File: "f", Cause: os.ErrPermission}, "IoError"},
		{&Error{File: "f", Cause: context.Canceled}, "Canceled"},
		{fmt.Errorf("load: %w", context.DeadlineExceeded), "DeadlineExceeded"},
		{closedError("f"), "Closed"},
		{&Error{Err: ErrInvalidOffset, Cause: context.Canceled}, "InvalidOffset"},
		{fmt.Errorf("wrapped: %w", &Error{Err: ErrTensorNotFound}), "TensorNotFound"},
		{&Error{Cause: &Error{Err: ErrHeaderTooLarge}}, "HeaderTooLarge"},
	}
	for _, tt := range tests {
		if got := Kind(tt.err); got != tt.want {
			t.Errorf("Kind(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
	if !errors.Is(closedError("f"), fs.ErrClosed) {
		t.Error("a closed file's error is not fs.ErrClosed")
	}
}

// TestErrorText: the parts of an error in order, none repeated by a cause
// that names the same file or tensor, no offset when it is 0, and no
// "stload: " prefix.
func TestErrorText(t *testing.T) {
	tests := []struct {
		err  *Error
		want string
	}{
		{&Error{File: "f", Tensor: "t", Err: ErrInvalidOffset, Detail: "d", Offset: 9},
			`f: tensor "t": invalid offset: d (at byte 9)`},
		{&Error{File: "f", Cause: os.ErrPermission}, "f: permission denied"},
		{&Error{File: "f", Detail: "read", Cause: os.ErrPermission, Offset: 12}, "f: read: permission denied (at byte 12)"},
		{&Error{File: "f", Tensor: "t", Detail: "read", Cause: &Error{File: "f", Err: fs.ErrClosed}},
			`f: tensor "t": read: file already closed`},
		{&Error{File: "f", Tensor: "t", Cause: &Error{File: "g", Tensor: "t", Err: ErrTensorNotFound}},
			`f: tensor "t": g: tensor not found`},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("got  %s\nwant %s", got, tt.want)
		}
	}
}
