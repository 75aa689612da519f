package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stload/stload/dtype"
	"github.com/stload/stload/loader"
	"github.com/stload/stload/loader/checkpoint"
)

// shardTiny writes tiny-llama into dir as a transformers checkpoint of
// three shards (at most 100 kB of tensor data each) and returns the path
// of its index.
func shardTiny(t *testing.T, dir string) string {
	t.Helper()
	c, err := checkpoint.Open(context.Background(), tinyLlamaPath)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	paths, err := checkpoint.Save(context.Background(), dir, c.Sources(),
		checkpoint.WithMaxShardSize(100_000), checkpoint.WithMetadata(map[string]string{"format": "pt"}))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) != 4 {
		t.Fatalf("wrote %v, want 3 shards and an index", paths)
	}
	return paths[3]
}

// serve serves dir over HTTP with range support (http.FileServer).
func serve(t *testing.T, dir string) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.FileServer(http.Dir(dir)))
	t.Cleanup(s.Close)
	return s
}

// ckptJSON is the shape of inspect --json for a sharded checkpoint.
type ckptJSON struct {
	OK         bool              `json:"ok"`
	Checkpoint bool              `json:"checkpoint"`
	Metadata   map[string]string `json:"metadata"`
	Shards     []struct {
		File       string            `json:"file"`
		HeaderSize int64             `json:"header_size"`
		Metadata   map[string]string `json:"metadata"`
		Tensors    []struct {
			Name   string `json:"name"`
			DType  string `json:"dtype"`
			SHA256 string `json:"sha256"`
		} `json:"tensors"`
	} `json:"shards"`
}

// TestCheckpointInputs runs every reading command on a sharded checkpoint
// named by its directory, its index file and its URL, and compares what
// they say with the single file it was made from.
func TestCheckpointInputs(t *testing.T) {
	dir := t.TempDir()
	index := shardTiny(t, dir)
	srv := serve(t, dir)

	// What the single file says, tensor by tensor.
	var single verdict
	r := stload(t, "inspect", "--json", "--sha256", tinyLlamaPath)
	decodeLine(t, r.stdout, &single)
	sums := map[string]string{}
	for _, tj := range single.Tensors {
		sums[tj.Name] = tj.SHA256
	}
	const tensor = "model.layers.1.mlp.down_proj.weight"
	wantDump := stload(t, "dump", "--sha256", "--slice", "3:9,1::5", tinyLlamaPath, tensor)
	wantRaw := stload(t, "dump", tinyLlamaPath, "lm_head.weight")
	if wantDump.code != 0 || wantRaw.code != 0 {
		t.Fatal(wantDump, wantRaw)
	}

	for _, in := range []struct{ name, input string }{
		{"dir", dir},
		{"index", index},
		{"url", srv.URL + "/" + filepath.Base(index)},
	} {
		t.Run(in.name, func(t *testing.T) {
			// inspect --json: the checkpoint contract.
			r := stload(t, "inspect", "--json", "--sha256", in.input)
			if r.code != 0 {
				t.Fatal(r)
			}
			var got ckptJSON
			decodeLine(t, r.stdout, &got)
			if keys := jsonKeys(t, []byte(r.stdout)); strings.Join(keys, ",") != "ok,checkpoint,metadata,shards" {
				t.Errorf("keys %v", keys)
			}
			if !got.OK || !got.Checkpoint || got.Metadata["total_size"] != fmt.Sprint(tinyLlamaBytes) || len(got.Shards) != 3 {
				t.Fatalf("got %s", head(r.stdout))
			}
			n := 0
			for i, s := range got.Shards {
				if want := fmt.Sprintf("model-%05d-of-00003.safetensors", i+1); s.File != want {
					t.Errorf("shard %d is %q, want %q", i, s.File, want)
				}
				if s.HeaderSize <= 0 || s.Metadata["format"] != "pt" || len(s.Metadata) != 1 {
					t.Errorf("shard %s: header %d, metadata %v", s.File, s.HeaderSize, s.Metadata)
				}
				for _, tj := range s.Tensors {
					n++
					if tj.SHA256 != sums[tj.Name] || tj.DType != "BF16" {
						t.Errorf("%s: %s %s, want BF16 %s", tj.Name, tj.DType, tj.SHA256, sums[tj.Name])
					}
				}
			}
			if n != 21 {
				t.Errorf("%d tensors, want 21", n)
			}
			var raw struct {
				Shards []json.RawMessage `json:"shards"`
			}
			json.Unmarshal([]byte(r.stdout), &raw)
			if keys := jsonKeys(t, raw.Shards[0]); strings.Join(keys, ",") != "file,header_size,metadata,tensors" {
				t.Errorf("shard keys %v", keys)
			}

			// inspect: the readable report, grouped by shard.
			r = stload(t, "inspect", in.input)
			for _, s := range []string{
				in.input + ": checkpoint of 3 shards, 21 tensors, 106,816 parameters, 213.6 kB of tensor data\n",
				"\nmodel-00001-of-00003.safetensors: ", "\nmodel-00003-of-00003.safetensors: ",
				"\nNAME ", "\nDTYPE  TENSORS  PARAMETERS", "\ntotal       21     106,816",
				"\nindex metadata:\n  total_size: 213632\nshard metadata:\n  format: pt\n",
			} {
				if !strings.Contains(r.stdout, s) {
					t.Errorf("inspect lacks %q:\n%s", s, r.stdout)
				}
			}
			if r.code != 0 || r.stderr != "" {
				t.Error(r)
			}

			// validate: silent, or one ok line in JSON.
			if r := stload(t, "validate", in.input); r.code != 0 || r.stdout != "" {
				t.Error(r)
			}
			r = stload(t, "validate", "--json", in.input)
			if r.code != 0 || r.stdout != `{"file":"`+in.input+`","ok":true}`+"\n" {
				t.Error(r)
			}

			// dump: the same bytes as from the single file.
			if r := stload(t, "dump", "--sha256", "--slice", "3:9,1::5", in.input, tensor); r != wantDump {
				t.Errorf("dump --sha256: %v, want %v", r, wantDump)
			}
			if r := stload(t, "dump", in.input, "lm_head.weight"); r != wantRaw {
				t.Errorf("dump raw differs")
			}
			r = stload(t, "dump", "--json", in.input, "no.such.tensor")
			if r.code != 1 || !strings.Contains(r.stdout, `"kind":"TensorNotFound"`) {
				t.Error(r)
			}

			// load: every shard onto the CPU, verified.
			r = stload(t, "load", "--json", "--verify", in.input)
			var l loadJSON
			decodeLine(t, r.stdout, &l)
			if r.code != 0 || l.Files != 3 || l.Tensors != 21 || l.Bytes != tinyLlamaBytes || !l.Verified || l.Devices[0].Device != "cpu" {
				t.Errorf("load: %v", r)
			}
			if in.name == "url" && l.Copied != tinyLlamaBytes {
				t.Errorf("load from a URL copied %d bytes, want all", l.Copied)
			}
			r = stload(t, "load", in.input)
			if r.code != 0 || !strings.Contains(r.stdout, ": 21 tensors in 3 shards, 213.6 kB loaded onto cpu") {
				t.Errorf("load text: %v", r)
			}
		})
	}
}

// TestSingleFileInputs opens one file by its directory and by URL: the
// output is the single-file contract, the same as for its path.
func TestSingleFileInputs(t *testing.T) {
	dir := t.TempDir()
	path := copyFile(t, tinyLlamaPath, dir)
	srv := serve(t, dir)
	url := srv.URL + "/" + filepath.Base(path)
	want := stload(t, "inspect", "--json", "--sha256", path)
	if want.code != 0 || !strings.HasPrefix(want.stdout, `{"ok":true,"header_size":`) {
		t.Fatal(want)
	}
	for _, in := range []string{dir, url} {
		if r := stload(t, "inspect", "--json", "--sha256", in); r != want {
			t.Errorf("inspect %s:\n%v\nwant\n%v", in, r, want)
		}
		r := stload(t, "inspect", in)
		if r.code != 0 || !strings.HasPrefix(r.stdout, in+": 21 tensors, 106,816 parameters") {
			t.Errorf("inspect %s: %v", in, r)
		}
		if r := stload(t, "validate", in); r.code != 0 || r.stdout != "" {
			t.Error(r)
		}
		if r := stload(t, "load", "--verify", "--json", in); r.code != 0 || !strings.Contains(r.stdout, `"verified":true`) {
			t.Error(r)
		}
	}
}

// brokenCheckpoint is one way a checkpoint can be wrong.
type brokenCheckpoint struct {
	name    string
	make    func(t *testing.T, dir string) string // returns the input to open
	kind    string
	lenient bool // --lenient accepts it
}

// writeShard writes a safetensors file of F32 tensors of 2 elements.
func writeShard(t *testing.T, path string, names ...string) {
	t.Helper()
	data := map[string]loader.Data{}
	for _, n := range names {
		data[n] = loader.Data{DType: dtype.F32, Shape: []uint64{2}, Bytes: make([]byte, 8)}
	}
	if err := loader.SaveFile(path, data, nil); err != nil {
		t.Fatal(err)
	}
}

// writeIndex writes an index file with weight_map and, unless total < 0,
// metadata.total_size.
func writeIndex(t *testing.T, path string, total int, weightMap map[string]string) {
	t.Helper()
	idx := map[string]any{"weight_map": weightMap}
	if total >= 0 {
		idx["metadata"] = map[string]any{"total_size": total}
	}
	b, _ := json.Marshal(idx)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

var brokenCheckpoints = []brokenCheckpoint{
	{"missing shard", func(t *testing.T, dir string) string {
		index := shardTiny(t, dir)
		os.Remove(filepath.Join(dir, "model-00002-of-00003.safetensors"))
		return index
	}, "ShardMissing", false},
	{"tensor in two shards", func(t *testing.T, dir string) string {
		writeShard(t, filepath.Join(dir, "a.safetensors"), "x", "y")
		writeShard(t, filepath.Join(dir, "b.safetensors"), "y", "z")
		writeIndex(t, filepath.Join(dir, checkpoint.DefaultIndexName), 32, map[string]string{"x": "a.safetensors", "y": "a.safetensors", "z": "b.safetensors"})
		return dir
	}, "WeightMapMismatch", false},
	{"tensor not listed", func(t *testing.T, dir string) string {
		writeShard(t, filepath.Join(dir, "a.safetensors"), "x", "y")
		writeIndex(t, filepath.Join(dir, checkpoint.DefaultIndexName), -1, map[string]string{"x": "a.safetensors"})
		return dir
	}, "WeightMapMismatch", false},
	{"traversal", func(t *testing.T, dir string) string {
		sub := filepath.Join(dir, "model")
		os.Mkdir(sub, 0o755)
		writeShard(t, filepath.Join(dir, "outside.safetensors"), "x")
		writeIndex(t, filepath.Join(sub, checkpoint.DefaultIndexName), -1, map[string]string{"x": "../outside.safetensors"})
		return sub
	}, "InsecurePath", false},
	{"absolute shard path", func(t *testing.T, dir string) string {
		writeShard(t, filepath.Join(dir, "a.safetensors"), "x")
		writeIndex(t, filepath.Join(dir, checkpoint.DefaultIndexName), -1, map[string]string{"x": filepath.Join(dir, "a.safetensors")})
		return filepath.Join(dir, checkpoint.DefaultIndexName)
	}, "InsecurePath", false},
	{"total size mismatch", func(t *testing.T, dir string) string {
		writeShard(t, filepath.Join(dir, "a.safetensors"), "x")
		writeShard(t, filepath.Join(dir, "b.safetensors"), "y")
		writeIndex(t, filepath.Join(dir, checkpoint.DefaultIndexName), 17, map[string]string{"x": "a.safetensors", "y": "b.safetensors"})
		return dir
	}, "InvalidIndex", true},
	{"malformed index", func(t *testing.T, dir string) string {
		os.WriteFile(filepath.Join(dir, checkpoint.DefaultIndexName), []byte(`{"weight_map": {"x": 1}}`), 0o644)
		return dir
	}, "InvalidIndex", false},
	{"invalid shard", func(t *testing.T, dir string) string {
		writeShard(t, filepath.Join(dir, "a.safetensors"), "x")
		os.WriteFile(filepath.Join(dir, "b.safetensors"), []byte("1234567"), 0o644)
		writeIndex(t, filepath.Join(dir, checkpoint.DefaultIndexName), -1, map[string]string{"x": "a.safetensors", "y": "b.safetensors"})
		return dir
	}, "HeaderTooSmall", false},
	{"empty directory", func(t *testing.T, dir string) string { return dir }, "NoCheckpoint", false},
	{"two files, no index", func(t *testing.T, dir string) string {
		writeShard(t, filepath.Join(dir, "a.safetensors"), "x")
		writeShard(t, filepath.Join(dir, "b.safetensors"), "y")
		return dir
	}, "NoCheckpoint", false},
}

// TestCheckpointErrors gives every reading command broken checkpoints,
// on disk and over HTTP, and checks the kinds they report.
func TestCheckpointErrors(t *testing.T) {
	for _, bc := range brokenCheckpoints {
		t.Run(bc.name, func(t *testing.T) {
			input := bc.make(t, t.TempDir())
			for _, args := range [][]string{
				{"validate", "--json", input},
				{"inspect", "--json", input},
				{"dump", "--json", input, "x"},
				{"load", "--json", input},
			} {
				r := stload(t, args...)
				var got validateJSON
				decodeLine(t, r.stdout, &got)
				if r.code != 1 || got.OK || got.Kind != bc.kind {
					t.Errorf("%q: %v, want kind %s", args, r, bc.kind)
				}
			}
			r := stload(t, "validate", input)
			if r.code != 1 || !strings.HasPrefix(r.stdout, input+": "+bc.kind+": ") {
				t.Errorf("validate: %v", r)
			}
			r = stload(t, "convert", input, filepath.Join(t.TempDir(), "out.safetensors"))
			if r.code != 1 || !strings.Contains(r.stderr, "["+bc.kind+"]") {
				t.Errorf("convert: %v", r)
			}
			if bc.lenient {
				if r := stload(t, "validate", "--lenient", input); r.code != 0 {
					t.Errorf("--lenient: %v", r)
				}
			}
		})
	}
}

// TestRemoteErrors checks what a URL input reports when the server cannot
// serve it.
func TestRemoteErrors(t *testing.T) {
	dir := t.TempDir()
	index := shardTiny(t, dir)
	os.Remove(filepath.Join(dir, "model-00003-of-00003.safetensors"))
	files := serve(t, dir)
	noRanges := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := os.ReadFile(tinyLlamaPath)
		w.Write(b) // 200 and the whole file, whatever the Range
	}))
	defer noRanges.Close()

	for _, tc := range []struct {
		name, url, kind string
	}{
		{"shard missing", files.URL + "/" + filepath.Base(index), "ShardMissing"},
		{"file missing", files.URL + "/nope.safetensors", "IoError"},
		{"no ranges, no validators", noRanges.URL + "/model.safetensors", "NoValidators"},
		{"not a URL", "http://", "IoError"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, cmd := range []string{"inspect", "validate", "load"} {
				r := stload(t, cmd, "--json", "--require-validators", tc.url)
				var got validateJSON
				decodeLine(t, r.stdout, &got)
				if r.code != 1 || got.Kind != tc.kind {
					t.Errorf("%s: %v, want %s", cmd, r, tc.kind)
				}
			}
		})
	}
}

// TestShardName checks the names inspect gives shards.
func TestShardName(t *testing.T) {
	dir := t.TempDir()
	index := shardTiny(t, dir)
	srv := serve(t, dir)
	for _, input := range []string{index, srv.URL + "/" + filepath.Base(index) + "?rev=main"} {
		c, err := openInput(context.Background(), newEnv(io.Discard, io.Discard), input, inputOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, f := range c.Files() {
			names = append(names, shardName(c.Checkpoint, f))
		}
		c.Close()
		if want := "model-00001-of-00003.safetensors model-00002-of-00003.safetensors model-00003-of-00003.safetensors"; strings.Join(names, " ") != want {
			t.Errorf("%s: %v", input, names)
		}
	}
	if !bytes.Contains([]byte(inputHelp), []byte("URL")) {
		t.Error("inputHelp does not mention URLs")
	}
}

// TestLoneShard checks that every reading command warns, on stderr, when
// its input is one shard of a checkpoint named by itself, local or
// remote; that --json output is unchanged by it; and that a checkpoint
// named whole, a one-shard checkpoint's shard and a file of any other
// name get no warning.
func TestLoneShard(t *testing.T) {
	dir := t.TempDir()
	shardTiny(t, dir)
	shard := filepath.Join(dir, "model-00003-of-00003.safetensors")
	url := serve(t, dir).URL + "/model-00003-of-00003.safetensors?token=s3cret"
	only := filepath.Join(t.TempDir(), "model-00001-of-00001.safetensors")
	copyFile(t, tinyLlamaPath, filepath.Dir(only))
	if err := os.Rename(filepath.Join(filepath.Dir(only), filepath.Base(tinyLlamaPath)), only); err != nil {
		t.Fatal(err)
	}
	warning := "stload: warning: model-00003-of-00003.safetensors is shard 3 of 3; give the directory or its index.json to load the whole checkpoint\n"
	tests := []struct {
		args []string
		warn bool
	}{
		{[]string{"inspect", shard}, true},
		{[]string{"inspect", "--json", shard}, true},
		{[]string{"validate", shard}, true},
		{[]string{"validate", "--json", shard, dir}, true},
		{[]string{"load", shard}, true},
		{[]string{"load", "--json", shard}, true},
		{[]string{"dump", "--sha256", shard, "model.norm.weight"}, true},
		{[]string{"convert", shard, filepath.Join(t.TempDir(), "part.safetensors")}, true},
		{[]string{"inspect", url}, true},
		{[]string{"validate", "--json", url}, true},
		{[]string{"inspect", dir}, false},
		{[]string{"validate", filepath.Join(dir, "model.safetensors.index.json")}, false},
		{[]string{"inspect", only}, false},
		{[]string{"inspect", tinyLlamaPath}, false},
	}
	for _, tc := range tests {
		r := stload(t, tc.args...)
		want := ""
		if tc.warn {
			want = warning
		}
		if r.code != 0 || r.stderr != want {
			t.Errorf("%q: %v\nwant stderr %q", tc.args, r, want)
		}
		if strings.Contains(r.stdout, "warning") || strings.Contains(r.stdout, "s3cret") {
			t.Errorf("%q: stdout %q", tc.args, r.stdout)
		}
	}
}
