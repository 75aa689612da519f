package loader

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stload/stload/dtype"
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

// labelled is an error and what caused it, for the golden file.
type labelled struct {
	label string
	err   error
}

// conformanceErrors opens every rejected conformance file.
func conformanceErrors(t *testing.T) []labelled {
	var out []labelled
	for _, c := range readCases(t, "invalid") {
		path := filepath.Join(conformance, "invalid", c.File)
		if _, err := Open(path); err != nil {
			out = append(out, labelled{c.File, &relabelled{err, path, c.File}})
		}
	}
	return out
}

// relabelled is err with the path in its message replaced by a name, so
// that the golden file does not depend on where the test runs.
type relabelled struct {
	err        error
	path, name string
}

func (r *relabelled) Error() string { return strings.ReplaceAll(r.err.Error(), r.path, r.name) }
func (r *relabelled) Unwrap() error { return r.err }

// apiErrors makes the errors of the API's other failures: files that are
// not safetensors files, uses of closed files, bad slices, bad writes.
func apiErrors(t *testing.T) []labelled {
	dir := t.TempDir()
	var out []labelled
	add := func(label string, err error) {
		if err == nil {
			t.Fatalf("%s: no error", label)
		}
		out = append(out, labelled{label, &relabelled{err, dir, "DIR"}})
	}
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	_, err := Open(dir)
	add("open a directory", err)
	_, err = Open(filepath.Join(dir, "missing.safetensors"))
	add("open a missing file", err)
	_, err = Open(file("page.safetensors", "<!DOCTYPE html><html></html>"))
	add("open HTML", err)
	_, err = Open(file("model.safetensors.index.json", `{"metadata": {}, "weight_map": {}}`))
	add("open an index", err)
	_, err = Open(file("pytorch_model.bin", "PK\x03\x04\x14\x00\x00\x00\x08\x00"))
	add("open a ZIP", err)

	good := filepath.Join(dir, "good.safetensors")
	err = SaveFile(good, map[string]Data{"w": {DType: dtype.F32, Shape: []uint64{4, 3}, Bytes: make([]byte, 48)}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	f, err := Open(good)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.Tensor("nope")
	add("a missing tensor", err)
	_, err = f.ReadAt(make([]byte, 4), f.Size()+10)
	add("ReadAt past the end", err)
	w, _ := f.Tensor("w")
	for _, spec := range []string{"0,0,0", "4", "3:2", "::-1", ":,0:4", "1,a", "1:2:3:4", "0:4:0", "99999999999999999999"} {
		idx, err := ParseSpec(spec)
		if err == nil {
			_, err = w.Slice(idx...)
		}
		add("slice "+strconv.Quote(spec), err)
	}
	f.Close()
	_, err = f.Tensor("w")
	add("Tensor after Close", err)
	_, err = w.Bytes()
	add("Tensor.Bytes after Close", err)

	spec := []Spec{{Name: "x", DType: dtype.U8, Shape: []uint64{4}}}
	out2, _ := CreateFile(filepath.Join(dir, "out.safetensors"), spec, nil)
	out2.Write([]byte{1, 2})
	add("close an incomplete CreateFile", out2.Close())
	_, err = out2.Write([]byte{1})
	add("write after Close", err)
	nw, _ := NewWriter(io.Discard, spec, nil)
	_, err = nw.Write(make([]byte, 6))
	add("write past the end", err)
	_, err = NewWriter(io.Discard, append(spec, spec[0]), nil)
	add("a name given twice", err)
	_, err = NewWriter(io.Discard, []Spec{{Name: "__metadata__", DType: dtype.U8}}, nil)
	add("the reserved name", err)
	err = SaveFile(filepath.Join(dir, "short.safetensors"), map[string]Data{"x": {DType: dtype.F32, Shape: []uint64{2}, Bytes: []byte{1}}}, nil)
	add("SaveFile with too few bytes", err)
	return out
}

// TestErrorMessages keeps the message of every rejected conformance file,
// and of the API's other failures, in a golden file, so that a change in
// what users read is deliberate.
func TestErrorMessages(t *testing.T) {
	var b strings.Builder
	for _, e := range append(conformanceErrors(t), apiErrors(t)...) {
		fmt.Fprintf(&b, "%s\t%s\t%s\n", e.label, Kind(e.err), e.err.Error())
	}
	golden := filepath.Join("testdata", "errors.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update once)", err)
	}
	if b.String() != string(want) {
		t.Errorf("error messages changed; diff against %s (go test -update rewrites it):\n%s", golden, b.String())
	}
}

// TestErrorsSayThingsOnce: no message names its file, its tensor or its
// sentinel twice, shows a zero offset or a "stload: " prefix.
func TestErrorsSayThingsOnce(t *testing.T) {
	for _, l := range append(conformanceErrors(t), apiErrors(t)...) {
		msg := l.err.Error()
		var e *Error
		if !errors.As(l.err, &e) {
			t.Errorf("%s: not an *Error: %v", l.label, msg)
			continue
		}
		var parts []string
		if e.File != "" {
			parts = append(parts, e.File)
		}
		if e.Tensor != "" {
			parts = append(parts, strconv.Quote(e.Tensor))
		}
		if e.Err != nil {
			parts = append(parts, e.Err.Error())
		}
		for _, p := range parts {
			if p = strings.ReplaceAll(p, l.err.(*relabelled).path, l.err.(*relabelled).name); strings.Count(msg, p) != 1 {
				t.Errorf("%s: %q is said %d times: %s", l.label, p, strings.Count(msg, p), msg)
			}
		}
		if strings.Contains(msg, "(at byte 0)") || strings.Contains(msg, "stload: ") {
			t.Errorf("%s: %s", l.label, msg)
		}
	}
}
