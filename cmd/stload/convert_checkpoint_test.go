package main

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stload/stload/dtype"
	"github.com/stload/stload/loader"
	"github.com/stload/stload/loader/checkpoint"
)

// dirFiles returns the names and contents of the files in dir; a
// directory's name ends in "/".
func dirFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for _, e := range entries {
		if e.IsDir() {
			files[e.Name()+"/"] = nil
			continue
		}
		files[e.Name()] = mustRead(t, filepath.Join(dir, e.Name()))
	}
	return files
}

func fileNames(files map[string][]byte) []string {
	var names []string
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// TestConvertSplitMerge splits the shipped model into shards, checks the
// checkpoint, and merges it back into the original file, byte for byte,
// from its directory, its index and its URL.
func TestConvertSplitMerge(t *testing.T) {
	orig := mustRead(t, tinyLlamaPath)
	tmp := t.TempDir()
	split := filepath.Join(tmp, "split")
	r := stload(t, "convert", "--max-shard-size", "100kB", tinyLlamaPath, split)
	if r.code != 0 || r.stderr != "" || !strings.Contains(r.stdout, "21 tensors, 217,567 bytes (217.6 kB) in 4 files\n") ||
		!strings.Contains(r.stdout, filepath.Join(split, "model.safetensors.index.json")) {
		t.Fatal(r)
	}
	files := dirFiles(t, split)
	if got := strings.Join(fileNames(files), " "); got != "model-00001-of-00003.safetensors model-00002-of-00003.safetensors model-00003-of-00003.safetensors model.safetensors.index.json" {
		t.Fatalf("wrote %s", got)
	}
	// The same as checkpoint.Save writes, which transformers loads.
	if want := dirFiles(t, filepath.Dir(shardTiny(t, filepath.Join(tmp, "ref")))); !equalFiles(files, want) {
		t.Error("convert's checkpoint differs from checkpoint.Save's")
	}
	if r := stload(t, "validate", split); r.code != 0 {
		t.Fatal(r)
	}
	// Other spellings of the same size give the same shards.
	for _, size := range []string{"100000", "0.1MB", "100 KB", "100k"} {
		out := filepath.Join(tmp, "size-"+strings.ReplaceAll(size, " ", ""))
		if r := stload(t, "convert", tinyLlamaPath, out, "--max-shard-size="+size); r.code != 0 {
			t.Fatal(r)
		}
		if !equalFiles(dirFiles(t, out), files) {
			t.Errorf("--max-shard-size %s: different shards", size)
		}
	}

	srv := serve(t, tmp)
	for _, in := range []string{split, filepath.Join(split, checkpoint.DefaultIndexName), srv.URL + "/split/" + checkpoint.DefaultIndexName} {
		out := filepath.Join(tmp, "merged.safetensors")
		r := stload(t, "convert", in, out)
		if r.code != 0 || r.stdout != in+" -> "+out+": 21 tensors, "+plural(len(orig), "byte")+" ("+sizeText(int64(len(orig)))+")\n" {
			t.Fatalf("merge %s: %v", in, r)
		}
		if !bytes.Equal(mustRead(t, out), orig) {
			t.Errorf("merging %s did not give the original file back", in)
		}
		os.Remove(out)
	}

	// Resharding a checkpoint: smaller shards, then the default limit
	// (5GB: one file) into a directory.
	small := filepath.Join(tmp, "small")
	if r := stload(t, "convert", "--max-shard-size", "50KiB", split, small); r.code != 0 || !strings.Contains(r.stdout, "-of-00005.safetensors") {
		t.Fatal(r)
	}
	whole := filepath.Join(tmp, "whole")
	if r := stload(t, "convert", small, whole); r.code != 0 {
		t.Fatal(r)
	}
	if got := dirFiles(t, whole); len(got) != 1 || !bytes.Equal(got["model.safetensors"], orig) {
		t.Errorf("resharding with the default limit wrote %v", fileNames(got))
	}
	// A single file into a directory with a limit it fits in.
	one := filepath.Join(tmp, "one")
	if r := stload(t, "convert", "--max-shard-size", "5GB", tinyLlamaPath, one); r.code != 0 || !strings.Contains(r.stdout, "in 1 file\n") {
		t.Fatal(r)
	}
	if got := dirFiles(t, one); len(got) != 1 || !bytes.Equal(got["model.safetensors"], orig) {
		t.Errorf("one shard: wrote %v", fileNames(got))
	}
}

func equalFiles(a, b map[string][]byte) bool {
	return len(a) == len(b) && !slices.ContainsFunc(fileNames(a), func(n string) bool { return !bytes.Equal(a[n], b[n]) })
}

// TestConvertSplitDType converts to F32 while splitting, and back to BF16
// while merging.
func TestConvertSplitDType(t *testing.T) {
	tmp := t.TempDir()
	split := filepath.Join(tmp, "f32")
	r := stload(t, "convert", "--dtype", "f32", "--max-shard-size", "200kB", tinyLlamaPath, split)
	if r.code != 0 || !strings.Contains(r.stdout, "21 tensors (21 converted to F32), ") || !strings.Contains(r.stdout, "-of-00003.safetensors") {
		t.Fatal(r)
	}
	var got ckptJSON
	r = stload(t, "inspect", "--json", split)
	decodeLine(t, r.stdout, &got)
	if got.Metadata["total_size"] != strconv.Itoa(2*tinyLlamaBytes) {
		t.Errorf("index metadata %v", got.Metadata)
	}
	for _, s := range got.Shards {
		for _, tj := range s.Tensors {
			if tj.DType != "F32" {
				t.Errorf("%s is %s", tj.Name, tj.DType)
			}
		}
	}
	// Merged, it is what converting the single file gives.
	f32 := filepath.Join(tmp, "f32.safetensors")
	merged := filepath.Join(tmp, "merged.safetensors")
	if r := stload(t, "convert", "--dtype", "f32", tinyLlamaPath, f32); r.code != 0 {
		t.Fatal(r)
	}
	if r := stload(t, "convert", split, merged); r.code != 0 {
		t.Fatal(r)
	}
	if !bytes.Equal(mustRead(t, f32), mustRead(t, merged)) {
		t.Error("merged F32 shards differ from the converted file")
	}
	// Back to BF16 on the way out, from a URL: the original.
	srv := serve(t, tmp)
	back := filepath.Join(tmp, "back.safetensors")
	if r := stload(t, "convert", "--dtype", "bf16", srv.URL+"/f32/"+checkpoint.DefaultIndexName, back); r.code != 0 || !strings.Contains(r.stdout, "(21 converted to BF16)") {
		t.Fatal(r)
	}
	if !bytes.Equal(mustRead(t, back), mustRead(t, tinyLlamaPath)) {
		t.Error("F32 shards -> BF16 did not give the original file back")
	}
}

// TestConvertCheckpointFailures checks that a convert that fails leaves
// nothing behind: no shard, no index, no temporary file or directory, no
// output directory it created, and an existing output untouched.
func TestConvertCheckpointFailures(t *testing.T) {
	data := mustRead(t, tinyLlamaPath)
	flaky := func(t *testing.T) *loader.File {
		f, err := loader.NewReader(named{&failingReader{data: data, failAt: int64(len(data)) * 3 / 4}, "flaky"}, int64(len(data)))
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	for _, to := range []dtype.DType{dtype.Invalid, dtype.F32} {
		// A new output directory is removed again.
		tmp := t.TempDir()
		out := filepath.Join(tmp, "out")
		_, err := convertShards(context.Background(), []*loader.File{flaky(t)}, out, to, 50_000)
		if !errors.Is(err, errFlaky) {
			t.Errorf("to %v: got %v", to, err)
		}
		if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("to %v: the output directory was left behind", to)
		}
		// An existing one keeps what it held, and nothing else.
		os.Mkdir(out, 0o755)
		os.WriteFile(filepath.Join(out, "keep"), []byte("x"), 0o644)
		if _, err := convertShards(context.Background(), []*loader.File{flaky(t)}, out, to, 50_000); err == nil {
			t.Error("no error")
		}
		if got := fileNames(dirFiles(t, out)); len(got) != 1 || got[0] != "keep" {
			t.Errorf("to %v: the output directory holds %v", to, got)
		}
		// A merge: no temporary file beside the output.
		if _, err := convertFiles(context.Background(), []*loader.File{flaky(t)}, filepath.Join(tmp, "m.safetensors"), to); !errors.Is(err, errFlaky) {
			t.Errorf("to %v: merge got %v", to, err)
		}
		if got := fileNames(dirFiles(t, tmp)); len(got) != 1 || got[0] != "out/" {
			t.Errorf("to %v: merge left %v", to, got)
		}
	}

	// An interrupt.
	tmp := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	f, err := loader.Open(tinyLlamaPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := convertShards(ctx, []*loader.File{f}, filepath.Join(tmp, "out"), dtype.F16, 50_000); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: got %v", err)
	}
	if got := dirFiles(t, tmp); len(got) != 0 {
		t.Errorf("cancelled: left %v", fileNames(got))
	}

	// From the command line: an invalid input, and a server that stops
	// serving the tensor data after the header.
	out := filepath.Join(tmp, "out")
	if r := stload(t, "convert", "--max-shard-size", "100kB", filepath.Join(conformance, "invalid", "offsets_overlap.safetensors"), out); r.code != 1 {
		t.Error(r)
	}
	headerOnly := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.Header.Get("Range"), "bytes=0-") {
			http.ServeContent(w, r, "model.safetensors", time.Unix(1e9, 0), bytes.NewReader(data))
			return
		}
		http.Error(w, "gone", http.StatusForbidden)
	}))
	defer headerOnly.Close()
	r := stload(t, "convert", "--max-shard-size", "100kB", headerOnly.URL+"/model.safetensors", out)
	if r.code != 1 || !strings.Contains(r.stderr, "403") {
		t.Errorf("server failing mid-way: %v", r)
	}
	r = stload(t, "convert", headerOnly.URL+"/model.safetensors", filepath.Join(tmp, "one.safetensors"))
	if r.code != 1 {
		t.Errorf("server failing mid-way, one file: %v", r)
	}
	if got := dirFiles(t, tmp); len(got) != 0 {
		t.Errorf("left %v", fileNames(got))
	}

	// Sizes convert does not understand.
	for _, size := range []string{"0", "-5GB", "5XB", "", "GB", "1e30GB", "0.1B"} {
		r := stload(t, "convert", "--max-shard-size", size, tinyLlamaPath, out)
		if r.code != 2 || !strings.Contains(r.stderr, "-max-shard-size") {
			t.Errorf("--max-shard-size %q: %v", size, r)
		}
	}
	if got := dirFiles(t, tmp); len(got) != 0 {
		t.Errorf("left %v", fileNames(got))
	}
}

// TestSizeFlag checks the size flags: parseSize's units, and that a size
// must be positive.
func TestSizeFlag(t *testing.T) {
	for in, want := range map[string]int64{"5GB": 5_000_000_000, "512MiB": 512 << 20, "4096": 4096} {
		var f sizeFlag
		if err := f.Set(in); err != nil || !f.set || f.n != want {
			t.Errorf("Set(%q) = %v, %+v; want %d", in, err, f, want)
		}
	}
	for _, in := range []string{"0", "0MB", "-1", "x", "0.5"} {
		var f sizeFlag
		if err := f.Set(in); err == nil || f.set {
			t.Errorf("Set(%q) = %+v, want an error", in, f)
		}
	}
}

// TestConvertMergeInPlace merges a sharded checkpoint into one file in
// its own directory, named as the file or by the directory: the old index
// and shards are retired, so that Open (and transformers) find the new
// file, byte for byte the original, and nothing of the old checkpoint.
// A checkpoint of another prefix in the directory is left alone.
func TestConvertMergeInPlace(t *testing.T) {
	orig := mustRead(t, tinyLlamaPath)
	for _, tc := range []struct{ name, out, shown string }{
		{"file", "model.safetensors", "model.safetensors"},
		{"directory", "/", ""}, // resharded with the default limit: one file
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			shardTiny(t, dir)
			other := filepath.Join(dir, "other.safetensors")
			if err := os.WriteFile(other, orig, 0o644); err != nil {
				t.Fatal(err)
			}
			out := dir + "/" + strings.TrimPrefix(tc.out, "/")
			r := stload(t, "convert", filepath.Join(dir, checkpoint.DefaultIndexName), out)
			want := filepath.Join(dir, "model.safetensors")
			if r.code != 0 || !strings.Contains(r.stdout, " -> "+filepath.Join(dir, tc.shown)+": 21 tensors") || r.stderr != "" {
				t.Fatalf("%v", r)
			}
			got := dirFiles(t, dir)
			if names := strings.Join(fileNames(got), " "); names != "model.safetensors other.safetensors" {
				t.Errorf("the directory holds %s", names)
			}
			if !bytes.Equal(got["model.safetensors"], orig) {
				t.Error("the merged file differs from the original")
			}
			// The directory holds two files and no index, so Open(dir)
			// refuses to choose; Open(index) fails, and the file opens.
			if _, err := checkpoint.Open(context.Background(), filepath.Join(dir, checkpoint.DefaultIndexName)); err == nil {
				t.Error("the old index still opens")
			}
			c, err := checkpoint.Open(context.Background(), want)
			if err != nil || c.Sharded() || c.Len() != 21 {
				t.Errorf("Open(%s): %v", want, err)
			} else {
				c.Close()
			}
		})
	}
	// With the directory holding only the checkpoint, Open(dir) itself
	// gives the new file.
	dir := t.TempDir()
	shardTiny(t, dir)
	if r := stload(t, "convert", dir, filepath.Join(dir, "model.safetensors")); r.code != 0 {
		t.Fatal(r)
	}
	c, err := checkpoint.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Sharded() || c.Path() != filepath.Join(dir, "model.safetensors") || c.Len() != 21 || len(c.Leftovers()) != 0 {
		t.Errorf("Open(dir) gives %s (sharded %v, %d tensors, leftovers %v)", c.Path(), c.Sharded(), c.Len(), c.Leftovers())
	}
	if got := fileNames(dirFiles(t, dir)); len(got) != 1 {
		t.Errorf("the directory holds %v", got)
	}
	// A single file converted into a directory holding its own prefix's
	// shards (a-00001-of-00002...) replaces them too.
	dir = t.TempDir()
	a := copyFile(t, tinyLlamaPath, t.TempDir())
	if r := stload(t, "convert", "--max-shard-size", "100kB", a, dir); r.code != 0 {
		t.Fatal(r)
	}
	for _, name := range []string{"model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors", "model-00003-of-00003.safetensors", "model.safetensors.index.json"} {
		if err := os.Rename(filepath.Join(dir, name), filepath.Join(dir, strings.Replace(name, "model", "tiny-llama", 1))); err != nil {
			t.Fatal(err)
		}
	}
	if r := stload(t, "convert", a, dir); r.code != 0 {
		t.Fatal(r)
	}
	if got := fileNames(dirFiles(t, dir)); strings.Join(got, " ") != "tiny-llama.safetensors" {
		t.Errorf("the directory holds %v", got)
	}
}
