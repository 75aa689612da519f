package main

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestInspectText compares the readable report of a few files with the
// golden file testdata/inspect.golden.
func TestInspectText(t *testing.T) {
	v := func(name string) string { return filepath.Join(conformance, "valid", name+".safetensors") }
	var out strings.Builder
	for _, args := range [][]string{
		{tinyLlamaPath},
		{"--sha256", v("names_special")},
		{v("metadata_escapes")},
		{v("metadata_empty_map")},
		{v("no_tensors")},
		{v("empty_tensors")},
		{filepath.Join(conformance, "invalid", "shape_zero_with_huge_dim.safetensors")},
		{"--lenient", filepath.Join(conformance, "invalid", "dup_tensor_last_wins.safetensors")},
	} {
		r := stload(t, append([]string{"inspect"}, args...)...)
		if r.code != 0 || r.stderr != "" {
			t.Fatalf("%q: %v", args, r)
		}
		out.WriteString("$ stload inspect " + strings.Join(args, " ") + "\n" + r.stdout + "\n")
	}
	golden(t, "inspect.golden", out.String())
}

func TestInspectErrors(t *testing.T) {
	bad := filepath.Join(conformance, "invalid", "hdrlen_u64_max.safetensors")
	r := stload(t, "inspect", bad)
	if r.code != 1 || r.stdout != "" || !strings.HasPrefix(r.stderr, "stload: "+bad+": header too large") || !strings.HasSuffix(r.stderr, " [HeaderTooLarge]\n") {
		t.Errorf("%v", r)
	}
	missing := filepath.Join(t.TempDir(), "nope.safetensors")
	r = stload(t, "inspect", "--json", missing)
	var got errorJSON
	decodeLine(t, r.stdout, &got)
	if r.code != 1 || got.Kind != "IoError" || !strings.Contains(got.Error, missing) {
		t.Errorf("%v", r)
	}
	// A directory is a checkpoint; an empty one holds none.
	r = stload(t, "inspect", "--json", t.TempDir())
	decodeLine(t, r.stdout, &got)
	if r.code != 1 || got.Kind != "NoCheckpoint" {
		t.Errorf("%v", r)
	}
}

// TestWriteFailure checks that a failing standard output is an error,
// not a crash or a silent success.
func TestWriteFailure(t *testing.T) {
	valid := filepath.Join(conformance, "valid", "big_tensor.safetensors")
	for _, args := range [][]string{
		{"dump", valid, "big"},
		{"dump", "--values", valid, "big"},
		{"dump", "--json", valid, "bias"},
		{"inspect", valid},
		{"validate", "--json", valid},
		{"load", valid},
		{"load", "--json", "--verify", valid},
	} {
		var errb strings.Builder
		if code := run(args, failingWriter{}, &errb); code != 1 || !strings.Contains(errb.String(), "stdout is gone") {
			t.Errorf("%q: exit %d, stderr %q", args, code, errb.String())
		}
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("stdout is gone") }

func TestIsTerminal(t *testing.T) {
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	file, err := os.Create(filepath.Join(t.TempDir(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	for _, w := range []io.Writer{null, file, &strings.Builder{}} {
		if isTerminal(w) {
			t.Errorf("%T is not a terminal", w)
		}
	}
}
