package main

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stload/stload/loader"
	"github.com/stload/stload/loader/checkpoint"
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

// TestInspectJSONStream checks that the streamed inspect --json output is
// byte for byte what encoding/json writes for the contract's structs, for
// every valid conformance file (names with quotes, '<', '&', unicode;
// null, empty and escaped metadata; scalars) and a sharded checkpoint.
func TestInspectJSONStream(t *testing.T) {
	type fileRep struct {
		OK         bool              `json:"ok"`
		HeaderSize int64             `json:"header_size"`
		Metadata   map[string]string `json:"metadata"`
		Tensors    []tensorJSON      `json:"tensors"`
	}
	type shardRep struct {
		File       string            `json:"file"`
		HeaderSize int64             `json:"header_size"`
		Metadata   map[string]string `json:"metadata"`
		Tensors    []tensorJSON      `json:"tensors"`
	}
	type ckptRep struct {
		OK         bool              `json:"ok"`
		Checkpoint bool              `json:"checkpoint"`
		Metadata   map[string]string `json:"metadata"`
		Shards     []shardRep        `json:"shards"`
	}
	tensors := func(f *loader.File, sha bool) []tensorJSON {
		ts := []tensorJSON{}
		for name, x := range f.Tensors() {
			tj := tensorJSON{Name: name, DType: x.DType.String(), Shape: append([]uint64{}, x.Shape...), DataOffsets: [2]int64{x.Begin, x.End}}
			if sha {
				b, err := x.Bytes()
				if err != nil {
					t.Fatal(err)
				}
				tj.SHA256 = sum(b)
			}
			ts = append(ts, tj)
		}
		return ts
	}
	want := func(v any) string {
		var b strings.Builder
		if err := writeJSON(&b, v); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	files, _ := filepath.Glob(filepath.Join(conformance, "valid", "*.safetensors"))
	for _, path := range append(files, tinyLlamaPath) {
		f, err := loader.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, sha := range []bool{false, true} {
			args := []string{"inspect", "--json", path}
			if sha {
				args = append(args, "--sha256")
			}
			r := stload(t, args...)
			if w := want(fileRep{true, f.HeaderSize(), f.Metadata(), tensors(f, sha)}); r.code != 0 || r.stdout != w {
				t.Errorf("%q:\n got %s\nwant %s", args, head(r.stdout), head(w))
			}
		}
		f.Close()
	}
	index := shardTiny(t, t.TempDir())
	c, err := checkpoint.Open(context.Background(), index)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rep := ckptRep{OK: true, Checkpoint: true, Metadata: c.Metadata(), Shards: []shardRep{}}
	for _, f := range c.Files() {
		rep.Shards = append(rep.Shards, shardRep{shardName(c, f), f.HeaderSize(), f.Metadata(), tensors(f, true)})
	}
	if r := stload(t, "inspect", "--json", "--sha256", index); r.code != 0 || r.stdout != want(rep) {
		t.Errorf("checkpoint:\n got %s\nwant %s", head(r.stdout), head(want(rep)))
	}
}
