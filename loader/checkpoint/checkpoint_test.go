package checkpoint

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"unsafe"

	"github.com/stload/stload/dtype"
	"github.com/stload/stload/loader"
)

// ckptTensors returns n tensors of assorted element types and shapes
// filled with seeded random bytes.
func ckptTensors(t *testing.T, n int, seed uint64) map[string]loader.Data {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	types := []string{"F32", "F16", "BF16", "I64", "U8", "F64", "I8", "BOOL"}
	out := make(map[string]loader.Data, n)
	for i := range n {
		dt := dtype.Lookup([]byte(types[rng.IntN(len(types))]))
		if dt == dtype.Invalid {
			t.Fatal("unknown dtype in test table")
		}
		shape := []uint64{uint64(1 + rng.IntN(7)), uint64(1 + rng.IntN(9))}
		if i%5 == 4 {
			shape = []uint64{} // a scalar now and then
		}
		b := make([]byte, specSize(loader.Spec{DType: dt, Shape: shape}))
		for j := range b {
			b[j] = byte(rng.Uint32())
		}
		out[fmt.Sprintf("model.layers.%d.weight", i)] = loader.Data{DType: dt, Shape: shape, Bytes: b}
	}
	return out
}

// ckptSet describes a checkpoint to write: shard name -> tensors, and
// the index's weight_map and metadata. A nil weight map is derived from
// the shards.
type ckptSet struct {
	shards    map[string]map[string]loader.Data
	weightMap map[string]string
	meta      map[string]any
}

// ckptGoodSet splits tensors round-robin into n shards with transformers'
// names and a correct index.
func ckptGoodSet(tensors map[string]loader.Data, n int) ckptSet {
	s := ckptSet{shards: map[string]map[string]loader.Data{}, weightMap: map[string]string{}}
	var total int64
	for i, name := range slices.Sorted(maps.Keys(tensors)) {
		shard := fmt.Sprintf("model-%05d-of-%05d.safetensors", i%n+1, n)
		if s.shards[shard] == nil {
			s.shards[shard] = map[string]loader.Data{}
		}
		s.shards[shard][name] = tensors[name]
		s.weightMap[name] = shard
		total += int64(len(tensors[name].Bytes))
	}
	s.meta = map[string]any{"total_size": total}
	return s
}

// write writes the shards and the index into dir and returns the index
// path.
func (s ckptSet) write(t *testing.T, dir string) string {
	t.Helper()
	for name, tensors := range s.shards {
		path := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := loader.SaveFile(path, tensors, map[string]string{"format": "pt"}); err != nil {
			t.Fatal(err)
		}
	}
	return ckptWriteIndex(t, dir, map[string]any{"metadata": s.meta, "weight_map": s.weightMap})
}

func ckptWriteIndex(t *testing.T, dir string, index any) string {
	t.Helper()
	b, ok := index.([]byte)
	if !ok {
		var err error
		if b, err = json.MarshalIndent(index, "", "  "); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, DefaultIndexName)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// ckptCheckTensors compares every tensor of c with want, bytes included.
func ckptCheckTensors(t *testing.T, c *Checkpoint, want map[string]loader.Data) {
	t.Helper()
	if got := names(c); !slices.Equal(got, slices.Sorted(maps.Keys(want))) {
		t.Fatalf("keys %v, want %v", got, slices.Sorted(maps.Keys(want)))
	}
	if c.Len() != len(want) {
		t.Errorf("Len %d, want %d", c.Len(), len(want))
	}
	var total int64
	for name, d := range want {
		total += int64(len(d.Bytes))
		tensor, err := c.Tensor(name)
		if err != nil {
			t.Fatal(err)
		}
		if tensor.DType != d.DType || !slices.Equal(tensor.Shape, d.Shape) {
			t.Errorf("Tensor(%q) is %v %v, want %v %v", name, tensor.DType, tensor.Shape, d.DType, d.Shape)
		}
		b, err := tensor.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b, d.Bytes) {
			t.Errorf("tensor %q: bytes differ", name)
		}
	}
	if c.TotalSize() != total {
		t.Errorf("TotalSize %d, want %d", c.TotalSize(), total)
	}
}

func TestCheckpointOpen(t *testing.T) {
	tensors := ckptTensors(t, 23, 1)
	dir := t.TempDir()
	index := ckptGoodSet(tensors, 3).write(t, dir)
	for _, path := range []string{index, dir} {
		t.Run(map[string]string{index: "index", dir: "dir"}[path], func(t *testing.T) {
			c, err := Open(t.Context(), path)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			ckptCheckTensors(t, c, tensors)
			if !c.Sharded() || c.Path() != index {
				t.Errorf("Sharded %v Path %q, want true %q", c.Sharded(), c.Path(), index)
			}
			if got := c.Metadata(); got["total_size"] != fmt.Sprint(c.TotalSize()) || len(got) != 1 {
				t.Errorf("metadata %v", got)
			}
			shards := c.Files()
			if len(shards) != 3 {
				t.Fatalf("%d shards, want 3", len(shards))
			}
			// Tensors goes shard by shard, each in offset order.
			var want []string
			for i, f := range shards {
				if base := filepath.Base(f.Name()); base != fmt.Sprintf("model-%05d-of-00003.safetensors", i+1) {
					t.Errorf("shard %d is %s", i, base)
				}
				for name := range f.Tensors() {
					want = append(want, name)
					if s, ok := c.File(name); !ok || s != f {
						t.Errorf("File(%q) is not %s", name, f.Name())
					}
				}
			}
			var got []string
			for name := range c.Tensors() {
				got = append(got, name)
			}
			if !slices.Equal(got, want) {
				t.Errorf("Tensors order %v, want %v", got, want)
			}
			tensor, err := c.Tensor("model.layers.1.weight")
			if err != nil {
				t.Fatal(err)
			}
			first, err := loader.ParseSpec("0")
			if err != nil {
				t.Fatal(err)
			}
			s, err := tensor.Slice(first...)
			if err != nil {
				t.Fatal(err)
			}
			b, err := s.Bytes()
			d := tensors["model.layers.1.weight"]
			if row := len(d.Bytes) / int(d.Shape[0]); err != nil || !bytes.Equal(b, d.Bytes[:row]) {
				t.Errorf("slice: %v %x, want %x", err, b, d.Bytes[:row])
			}
			if _, err := c.Tensor("nope"); !errors.Is(err, loader.ErrTensorNotFound) {
				t.Errorf("missing tensor: %v", err)
			}
		})
	}
}

func TestCheckpointSingleFile(t *testing.T) {
	tensors := ckptTensors(t, 5, 2)
	dir := t.TempDir()
	path := filepath.Join(dir, "model.safetensors")
	if err := loader.SaveFile(path, tensors, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, dir} {
		c, err := Open(t.Context(), p)
		if err != nil {
			t.Fatal(err)
		}
		ckptCheckTensors(t, c, tensors)
		if c.Sharded() || c.Path() != path || len(c.Files()) != 1 || c.Metadata()["format"] != "pt" {
			t.Errorf("%s: Sharded %v Path %q shards %d metadata %v", p, c.Sharded(), c.Path(), len(c.Files()), c.Metadata())
		}
		c.Close()
	}
}

// TestCheckpointMissingPath expects a path that does not exist, or leads
// through a file, to fail as Open fails on it: the same error, word for
// word, with the operating system's error as cause.
func TestCheckpointMissingPath(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	os.WriteFile(file, []byte("x"), 0o644)
	for _, path := range []string{
		filepath.Join(dir, "missing.safetensors"),
		filepath.Join(dir, "missing", "model.safetensors.index.json"),
		filepath.Join(file, "model.safetensors"), // not a directory
	} {
		_, cerr := Open(t.Context(), path)
		_, ferr := loader.Open(path)
		if cerr == nil || ferr == nil {
			t.Fatalf("%s: Open %v, loader.Open %v", path, cerr, ferr)
		}
		if cerr.Error() != ferr.Error() {
			t.Errorf("       Open: %v\n loader.Open: %v", cerr, ferr)
		}
		var e *loader.Error
		var pe *fs.PathError
		if !errors.As(cerr, &e) || e.Err != nil || e.File != path || !errors.As(e.Cause, &pe) || pe.Op != "open" || loader.Kind(cerr) != "IoError" {
			t.Errorf("Open: %v: not an I/O *loader.Error with an open *fs.PathError as cause", cerr)
		}
	}
	path := filepath.Join(dir, "missing.safetensors")
	_, err := Open(t.Context(), path)
	if want := path + ": open: no such file or directory"; err == nil || err.Error() != want || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("got %v, want %s", err, want)
	}
}

func TestCheckpointDirectoryChoice(t *testing.T) {
	tensors := ckptTensors(t, 4, 3)
	save := func(t *testing.T, dir, name string) {
		if err := loader.SaveFile(filepath.Join(dir, name), tensors, nil); err != nil {
			t.Fatal(err)
		}
	}
	index := func(t *testing.T, dir, name, shard string) {
		wm := map[string]string{}
		for k := range tensors {
			wm[k] = shard
		}
		b, _ := json.Marshal(map[string]any{"weight_map": wm})
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name  string
		setup func(t *testing.T, dir string)
		want  string // base name of the chosen file, or "" for ErrNoCheckpoint
	}{
		{"default index wins", func(t *testing.T, dir string) {
			save(t, dir, "a.safetensors")
			index(t, dir, "other.safetensors.index.json", "a.safetensors")
			index(t, dir, DefaultIndexName, "a.safetensors")
		}, DefaultIndexName},
		{"only index", func(t *testing.T, dir string) {
			save(t, dir, "a.safetensors")
			save(t, dir, "b.safetensors")
			index(t, dir, "x.safetensors.index.json", "b.safetensors")
		}, "x.safetensors.index.json"},
		{"two indexes", func(t *testing.T, dir string) {
			save(t, dir, "a.safetensors")
			index(t, dir, "x.safetensors.index.json", "a.safetensors")
			index(t, dir, "y.safetensors.index.json", "a.safetensors")
		}, ""},
		{"only file", func(t *testing.T, dir string) { save(t, dir, "w.safetensors") }, "w.safetensors"},
		{"two files", func(t *testing.T, dir string) {
			save(t, dir, "a.safetensors")
			save(t, dir, "b.safetensors")
		}, ""},
		{"empty", func(t *testing.T, dir string) {}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			tc.setup(t, dir)
			c, err := Open(t.Context(), dir)
			if tc.want == "" {
				if !errors.Is(err, ErrNoCheckpoint) {
					t.Fatalf("got %v, want ErrNoCheckpoint", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if filepath.Base(c.Path()) != tc.want {
				t.Errorf("opened %s, want %s", c.Path(), tc.want)
			}
		})
	}
}

// TestCheckpointBroken opens damaged shard sets and checks the error's
// sentinel and what it names.
func TestCheckpointBroken(t *testing.T) {
	tensors := ckptTensors(t, 6, 4)
	names := slices.Sorted(maps.Keys(tensors))
	const s1, s2 = "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"
	cases := []struct {
		name   string
		mutate func(t *testing.T, dir string, s *ckptSet)
		err    error
		file   string // base name of the file the error names
		tensor string
		// lenientOK: WithLenient accepts the set.
		lenientOK bool
	}{
		{name: "missing shard", mutate: func(t *testing.T, dir string, s *ckptSet) {
			delete(s.shards, s2)
		}, err: ErrShardMissing, file: s2},
		{name: "tensor in map but not in shard", mutate: func(t *testing.T, dir string, s *ckptSet) {
			s.weightMap["ghost"] = s1
		}, err: ErrWeightMap, file: s1, tensor: "ghost"},
		{name: "tensor in shard but not in map", mutate: func(t *testing.T, dir string, s *ckptSet) {
			delete(s.weightMap, names[0])
		}, err: ErrWeightMap, file: s1, tensor: names[0]},
		{name: "tensor listed for the wrong shard", mutate: func(t *testing.T, dir string, s *ckptSet) {
			s.weightMap[names[0]] = s2
		}, err: ErrWeightMap, file: s1, tensor: names[0]},
		{name: "tensor in two shard files", mutate: func(t *testing.T, dir string, s *ckptSet) {
			s.shards[s2][names[0]] = tensors[names[0]]
			s.meta["total_size"] = s.meta["total_size"].(int64) + int64(len(tensors[names[0]].Bytes))
		}, err: ErrWeightMap, file: s2, tensor: names[0]},
		{name: "traversal", mutate: func(t *testing.T, dir string, s *ckptSet) {
			// The file exists outside: the name ckptMust be refused, not opened.
			outside := filepath.Join(filepath.Dir(dir), "x.safetensors")
			if err := loader.SaveFile(outside, map[string]loader.Data{"ghost": tensors[names[0]]}, nil); err != nil {
				t.Fatal(err)
			}
			s.weightMap["ghost"] = "../x.safetensors"
		}, err: ErrInsecurePath, file: DefaultIndexName, tensor: "ghost"},
		{name: "traversal inside a name", mutate: func(t *testing.T, dir string, s *ckptSet) {
			s.weightMap["ghost"] = "sub/../../x.safetensors"
		}, err: ErrInsecurePath, file: DefaultIndexName, tensor: "ghost"},
		{name: "absolute path", mutate: func(t *testing.T, dir string, s *ckptSet) {
			s.weightMap["ghost"] = filepath.Join(dir, s1)
		}, err: ErrInsecurePath, file: DefaultIndexName, tensor: "ghost"},
		{name: "backslash", mutate: func(t *testing.T, dir string, s *ckptSet) {
			s.weightMap["ghost"] = `..\x.safetensors`
		}, err: ErrInsecurePath, file: DefaultIndexName, tensor: "ghost"},
		{name: "symlink out of the directory", mutate: func(t *testing.T, dir string, s *ckptSet) {
			outside := filepath.Join(t.TempDir(), "out.safetensors")
			if err := loader.SaveFile(outside, s.shards[s2], nil); err != nil {
				t.Fatal(err)
			}
			delete(s.shards, s2)
			if err := os.Symlink(outside, filepath.Join(dir, s2)); err != nil {
				t.Skip(err)
			}
		}, err: ErrInsecurePath, file: s2},
		{name: "relative symlink out of the directory", mutate: func(t *testing.T, dir string, s *ckptSet) {
			if err := loader.SaveFile(filepath.Join(filepath.Dir(dir), "out.safetensors"), s.shards[s2], nil); err != nil {
				t.Fatal(err)
			}
			delete(s.shards, s2)
			if err := os.Symlink("../out.safetensors", filepath.Join(dir, s2)); err != nil {
				t.Skip(err)
			}
		}, err: ErrInsecurePath, file: s2},
		{name: "shard is a directory", mutate: func(t *testing.T, dir string, s *ckptSet) {
			delete(s.shards, s2)
			os.Mkdir(filepath.Join(dir, s2), 0o755)
		}, err: ErrShardMissing, file: s2},
		{name: "corrupt shard", mutate: func(t *testing.T, dir string, s *ckptSet) {
			delete(s.shards, s2)
			os.WriteFile(filepath.Join(dir, s2), []byte("short"), 0o644)
		}, err: loader.ErrHeaderTooSmall, file: s2},
		{name: "total_size mismatch", mutate: func(t *testing.T, dir string, s *ckptSet) {
			s.meta["total_size"] = s.meta["total_size"].(int64) + 1
		}, err: ErrInvalidIndex, file: DefaultIndexName, lenientOK: true},
		{name: "total_size fractional", mutate: func(t *testing.T, dir string, s *ckptSet) {
			s.meta["total_size"] = 10.5
		}, err: ErrInvalidIndex, file: DefaultIndexName, lenientOK: true},
		{name: "total_size string", mutate: func(t *testing.T, dir string, s *ckptSet) {
			s.meta["total_size"] = "12"
		}, err: ErrInvalidIndex, file: DefaultIndexName, lenientOK: true},
		{name: "empty shard name", mutate: func(t *testing.T, dir string, s *ckptSet) {
			s.weightMap["ghost"] = ""
		}, err: ErrInvalidIndex, file: DefaultIndexName, tensor: "ghost"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "ckpt")
			os.Mkdir(dir, 0o755)
			s := ckptGoodSet(tensors, 2)
			tc.mutate(t, dir, &s)
			index := s.write(t, dir)
			for _, lenient := range []bool{false, true} {
				var opts []Option
				if lenient {
					opts = append(opts, WithLenient())
				}
				c, err := Open(t.Context(), index, opts...)
				if lenient && tc.lenientOK {
					if err != nil {
						t.Fatalf("lenient: %v", err)
					}
					c.Close()
					continue
				}
				ckptCheckErr(t, err, tc.err, tc.file, tc.tensor)
			}
		})
	}
}

// TestCheckpointManyProblems: every weight_map problem is found and the
// first, by tensor name, is reported with a count of the others. Here
// the shard lacks one listed tensor and the map lacks the shard's three;
// the second shard is named by no entry, so it is not opened.
func TestCheckpointManyProblems(t *testing.T) {
	tensors := ckptTensors(t, 6, 13)
	dir := t.TempDir()
	s := ckptGoodSet(tensors, 2)
	s.weightMap = map[string]string{"a": "model-00001-of-00002.safetensors"}
	_, err := Open(t.Context(), s.write(t, dir))
	ckptCheckErr(t, err, ErrWeightMap, "model-00001-of-00002.safetensors", "a")
	if !strings.HasSuffix(err.Error(), "(and 3 more weight_map problems)") {
		t.Errorf("error %v does not count the other problems", err)
	}
}

// ckptCheckErr checks that err is an *loader.Error wrapping want and naming file (a
// base name) and tensor.
func ckptCheckErr(t *testing.T, err, want error, file, tensor string) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("got %v, want %v", err, want)
	}
	t.Log(err)
	var e *loader.Error
	if !errors.As(err, &e) {
		t.Fatalf("%T is not *loader.Error", err)
	}
	if filepath.Base(e.File) != file && !strings.HasSuffix(e.File, "/"+file) {
		t.Errorf("error names file %q, want %s: %v", e.File, file, err)
	}
	if e.Tensor != tensor {
		t.Errorf("error names tensor %q, want %q: %v", e.Tensor, tensor, err)
	}
}

func TestCheckpointIndexJSON(t *testing.T) {
	tensors := ckptTensors(t, 2, 5)
	cases := []struct {
		name, index string
		err         error
		lenientOK   bool
	}{
		{"malformed", `{"weight_map": {"a": "model.safetensors",}}`, ErrInvalidIndex, false},
		{"truncated", `{"weight_map": {"a": `, ErrInvalidIndex, false},
		{"empty", ``, ErrInvalidIndex, false},
		{"array", `[]`, ErrInvalidIndex, false},
		{"no weight_map", `{"metadata": {}}`, ErrInvalidIndex, false},
		{"weight_map array", `{"weight_map": []}`, ErrInvalidIndex, false},
		{"weight_map number value", `{"weight_map": {"a": 1}}`, ErrInvalidIndex, false},
		{"metadata array", `{"metadata": [], "weight_map": {}}`, ErrInvalidIndex, false},
		{"trailing data", `{"weight_map": {}} {}`, ErrInvalidIndex, false},
		{"invalid UTF-8", "{\"weight_map\": {\"\xff\": \"a\"}}", ErrInvalidIndex, false},
		{"tensor listed twice", `{"weight_map": {"x": "model-00001-of-00002.safetensors", "x": "model-00002-of-00002.safetensors"}}`, ErrWeightMap, false},
		{"weight_map twice", `{"weight_map": {}, "weight_map": {}}`, ErrInvalidIndex, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			ckptGoodSet(tensors, 2).write(t, dir)
			index := ckptWriteIndex(t, dir, []byte(tc.index))
			_, err := Open(t.Context(), index)
			ckptCheckErr(t, err, tc.err, DefaultIndexName, func() string {
				if tc.name == "tensor listed twice" {
					return "x"
				}
				if tc.name == "weight_map number value" {
					return "a"
				}
				return ""
			}())
		})
	}
	// Unknown fields are ignored, metadata keeps strings as they are and
	// numbers as their text, and a float total_size that is whole counts.
	dir := t.TempDir()
	s := ckptGoodSet(tensors, 2)
	s.write(t, dir)
	total := s.meta["total_size"].(int64)
	index := ckptWriteIndex(t, dir, []byte(fmt.Sprintf(`{"extra": [1, {"x": null}], "metadata": {"total_size": %d.0, "format": "pt", "n": 7, "o": {"a": [1, 2]}}, "weight_map": %s}`,
		total, ckptMust(json.Marshal(s.weightMap)))))
	c, err := Open(t.Context(), index)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	want := map[string]string{"total_size": fmt.Sprintf("%d.0", total), "format": "pt", "n": "7", "o": `{"a":[1,2]}`}
	if got := c.Metadata(); !reflect.DeepEqual(got, want) {
		t.Errorf("metadata %v, want %v", got, want)
	}
}

func ckptMust[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestCheckpointSymlinkInside: links that stay in the directory are fine,
// and so is a Hugging Face cache snapshot, whose files all link to
// ../../blobs.
func TestCheckpointSymlinks(t *testing.T) {
	tensors := ckptTensors(t, 6, 6)
	t.Run("inside", func(t *testing.T) {
		dir := t.TempDir()
		s := ckptGoodSet(tensors, 2)
		s.write(t, dir)
		if err := os.Mkdir(filepath.Join(dir, "store"), 0o755); err != nil {
			t.Fatal(err)
		}
		for name := range s.shards {
			os.Rename(filepath.Join(dir, name), filepath.Join(dir, "store", name))
			if err := os.Symlink(filepath.Join("store", name), filepath.Join(dir, name)); err != nil {
				t.Skip(err)
			}
		}
		c, err := Open(t.Context(), dir)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		ckptCheckTensors(t, c, tensors)
	})
	t.Run("hf cache", func(t *testing.T) {
		repo := filepath.Join(t.TempDir(), "models--org--name")
		blobs, snap := filepath.Join(repo, "blobs"), filepath.Join(repo, "snapshots", "0123abc")
		build := t.TempDir()
		s := ckptGoodSet(tensors, 3)
		s.write(t, build)
		for _, d := range []string{blobs, snap} {
			if err := os.MkdirAll(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		entries, _ := os.ReadDir(build)
		for i, e := range entries {
			blob := fmt.Sprintf("blob%d", i)
			os.Rename(filepath.Join(build, e.Name()), filepath.Join(blobs, blob))
			if err := os.Symlink("../../blobs/"+blob, filepath.Join(snap, e.Name())); err != nil {
				t.Skip(err)
			}
		}
		for _, p := range []string{snap, filepath.Join(snap, DefaultIndexName)} {
			c, err := Open(t.Context(), p)
			if err != nil {
				t.Fatal(err)
			}
			ckptCheckTensors(t, c, tensors)
			if f := c.Files()[0]; filepath.Dir(f.Name()) != snap {
				t.Errorf("shard named %s, want it in %s", f.Name(), snap)
			}
			c.Close()
		}
		// Out of the repository is still out.
		other := filepath.Join(filepath.Dir(repo), "elsewhere.safetensors")
		loader.SaveFile(other, map[string]loader.Data{}, nil)
		link := filepath.Join(snap, "model-00001-of-00003.safetensors")
		os.Remove(link)
		os.Symlink("../../../elsewhere.safetensors", link)
		_, err := Open(t.Context(), snap)
		ckptCheckErr(t, err, ErrInsecurePath, "model-00001-of-00003.safetensors", "")
	})
}

func TestPlanShards(t *testing.T) {
	// huggingface_hub's test_multiple_shards: sizes 6, 10, 30, 2, 2 with
	// a limit of 10 give [layer_1], [layer_3], [layer_2], [layer_4 layer_5].
	u8 := dtype.Lookup([]byte("U8"))
	specs := []loader.Spec{
		{Name: "layer_1", DType: u8, Shape: []uint64{6}},
		{Name: "layer_2", DType: u8, Shape: []uint64{10}},
		{Name: "layer_3", DType: u8, Shape: []uint64{30}},
		{Name: "layer_4", DType: u8, Shape: []uint64{2}},
		{Name: "layer_5", DType: u8, Shape: []uint64{2}},
	}
	cases := []struct {
		max  int64
		want [][]int
	}{
		{10, [][]int{{0}, {2}, {1}, {3, 4}}},
		{100, [][]int{{0, 1, 2, 3, 4}}},
		{30, [][]int{{0, 1}, {2}, {3, 4}}},
		{1, [][]int{{0}, {1}, {2}, {3}, {4}}},
	}
	var srcs []Source
	for _, sp := range specs {
		srcs = append(srcs, Source{Spec: sp})
	}
	for _, tc := range cases {
		got, total, err := planShards(srcs, tc.max)
		if err != nil || total != 50 || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("max %d: %v %d %v, want %v 50", tc.max, got, total, err, tc.want)
		}
	}
	if _, _, err := planShards(append(srcs, srcs[0]), 10); !errors.Is(err, loader.ErrDuplicateKey) {
		t.Errorf("duplicate name: %v", err)
	}
	// Every shard is checked before anything is written.
	many := make([]Source, 30)
	for i := range many {
		many[i] = Source{Spec: loader.Spec{Name: fmt.Sprint("t", i), DType: u8, Shape: []uint64{1}}}
	}
	many[27].Name = "__metadata__"
	if _, _, err := planShards(many, 10); !errors.Is(err, loader.ErrTensorInvalidInfo) {
		t.Errorf("a reserved name in the third shard: %v", err)
	}
}

// ckptSources returns Sources reading from in-memory tensors, in name
// order.
func ckptSources(tensors map[string]loader.Data) []Source {
	var out []Source
	for _, name := range slices.Sorted(maps.Keys(tensors)) {
		d := tensors[name]
		out = append(out, Source{Spec: loader.Spec{Name: name, DType: d.DType, Shape: d.Shape},
			Open: func() (io.Reader, error) { return bytes.NewReader(d.Bytes), nil }})
	}
	return out
}

func TestSplitMergeRoundTrip(t *testing.T) {
	ctx := context.Background()
	tensors := ckptTensors(t, 40, 7)
	var total int64
	for _, d := range tensors {
		total += int64(len(d.Bytes))
	}
	dir := t.TempDir()
	meta := map[string]string{"format": "pt"}
	paths, err := Save(ctx, dir, ckptSources(tensors), WithMaxShardSize(300), WithMetadata(meta))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) < 3 || filepath.Base(paths[len(paths)-1]) != DefaultIndexName {
		t.Fatalf("wrote %v", paths)
	}
	n := len(paths) - 1
	for i, p := range paths[:n] {
		if want := fmt.Sprintf("model-%05d-of-%05d.safetensors", i+1, n); filepath.Base(p) != want {
			t.Errorf("shard %d is %s, want %s", i, p, want)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != len(paths) {
		t.Errorf("directory holds %d entries, want %d (no temporary files)", len(entries), len(paths))
	}
	c, err := Open(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ckptCheckTensors(t, c, tensors)
	for _, f := range c.Files() {
		var size int64
		for _, info := range f.Tensors() {
			size += info.End - info.Begin
		}
		if n := len(slices.Collect(maps.Keys(maps.Collect(f.Tensors())))); size > 300 && n > 1 {
			t.Errorf("%s holds %d bytes in %d tensors, over the limit", f.Name(), size, n)
		}
		if !reflect.DeepEqual(f.Metadata(), meta) {
			t.Errorf("%s: metadata %v", f.Name(), f.Metadata())
		}
	}

	// Merging gives exactly what Save writes for the same tensors.
	merged := filepath.Join(t.TempDir(), "merged.safetensors")
	if err := WriteFile(ctx, merged, c.Sources(), meta); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(merged); !bytes.Equal(got, saved(t, tensors, meta)) {
		t.Error("merged file differs from Save's output")
	}

	// Splitting the merged file again gives the same shards.
	m, err := Open(t.Context(), merged)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	dir2 := t.TempDir()
	paths2, err := Save(ctx, dir2, m.Sources(), WithMaxShardSize(300), WithMetadata(meta))
	if err != nil {
		t.Fatal(err)
	}
	c2, err := Open(t.Context(), dir2)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	ckptCheckTensors(t, c2, tensors)
	if len(paths2) != len(paths) {
		t.Errorf("resplit wrote %d files, first split %d", len(paths2), len(paths))
	}
}

// TestIndexFormat compares the index with what transformers writes:
// json.dumps(index, indent=2, sort_keys=True) + "\n", ASCII only. The
// expected text is CPython 3's output for the same dict.
func TestIndexFormat(t *testing.T) {
	u8 := dtype.Lookup([]byte("U8"))
	tensors := map[string]loader.Data{
		"b":        {DType: u8, Shape: []uint64{4}, Bytes: []byte{1, 2, 3, 4}},
		"a.x":      {DType: u8, Shape: []uint64{3}, Bytes: []byte{5, 6, 7}},
		"é\"\\\n😀": {DType: u8, Shape: []uint64{2}, Bytes: []byte{8, 9}},
		"\x7f\x01": {DType: u8, Shape: []uint64{1}, Bytes: []byte{10}},
	}
	dir := t.TempDir()
	// Sources in a fixed order: a.x (3) | b (4) | é.. (2), \x7f (1).
	srcs := ckptSources(tensors)
	order := map[string]int{"a.x": 0, "b": 1, "é\"\\\n😀": 2, "\x7f\x01": 3}
	slices.SortFunc(srcs, func(x, y Source) int { return order[x.Name] - order[y.Name] })
	if _, err := Save(context.Background(), dir, srcs, WithMaxShardSize(4)); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, DefaultIndexName))
	if err != nil {
		t.Fatal(err)
	}
	want := `{
  "metadata": {
    "total_size": 10
  },
  "weight_map": {
    "a.x": "model-00001-of-00003.safetensors",
    "b": "model-00002-of-00003.safetensors",
    "\u007f\u0001": "model-00003-of-00003.safetensors",
    "\u00e9\"\\\n\ud83d\ude00": "model-00003-of-00003.safetensors"
  }
}
`
	if string(got) != want {
		t.Errorf("index:\n%s\nwant:\n%s", got, want)
	}
}

func TestSaveSingle(t *testing.T) {
	tensors := ckptTensors(t, 5, 8)
	dir := t.TempDir()
	// A previous save left three shards and an index.
	old := ckptGoodSet(tensors, 3)
	old.write(t, dir)
	paths, err := Save(context.Background(), dir, ckptSources(tensors))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) != 1 || filepath.Base(paths[0]) != "model.safetensors" {
		t.Fatalf("wrote %v", paths)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("left %v beside model.safetensors", entries)
	}
	c, err := Open(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ckptCheckTensors(t, c, tensors)
}

// TestSaveAtomic fails a save halfway and expects the directory as
// it was.
func TestSaveAtomic(t *testing.T) {
	tensors := ckptTensors(t, 20, 9)
	for _, failAt := range []int{0, 7, 19} {
		t.Run(fmt.Sprint(failAt), func(t *testing.T) {
			dir := t.TempDir()
			os.WriteFile(filepath.Join(dir, "keep.txt"), []byte("x"), 0o644)
			srcs := ckptSources(tensors)
			boom := errors.New("boom")
			srcs[failAt].Open = func() (io.Reader, error) { return nil, boom }
			_, err := Save(context.Background(), dir, srcs, WithMaxShardSize(200))
			if !errors.Is(err, boom) {
				t.Fatalf("got %v, want boom", err)
			}
			var e *loader.Error
			if !errors.As(err, &e) || e.Tensor != srcs[failAt].Name || !strings.HasPrefix(filepath.Base(e.File), "model-") {
				t.Errorf("error %v does not name the tensor and shard", err)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 1 {
				t.Errorf("directory holds %v after a failed save", entries)
			}
		})
	}
	t.Run("short source", func(t *testing.T) {
		dir := t.TempDir()
		srcs := ckptSources(tensors)
		srcs[3].Open = func() (io.Reader, error) { return strings.NewReader("x"), nil }
		if err := WriteFile(context.Background(), filepath.Join(dir, "m.safetensors"), srcs, nil); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("short source: %v", err)
		}
		srcs = ckptSources(tensors)
		d := tensors[srcs[3].Name]
		srcs[3].Open = func() (io.Reader, error) { return bytes.NewReader(append(slices.Clone(d.Bytes), 0)), nil }
		if err := WriteFile(context.Background(), filepath.Join(dir, "m.safetensors"), srcs, nil); !errors.Is(err, loader.ErrTensorInvalidInfo) {
			t.Errorf("long source: %v", err)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Errorf("directory holds %v after failed saves", entries)
		}
	})
	t.Run("new directory", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "out")
		srcs := ckptSources(tensors)
		srcs[4].Open = func() (io.Reader, error) { return nil, errors.New("boom") }
		if _, err := Save(context.Background(), dir, srcs, WithMaxShardSize(200)); err == nil {
			t.Fatal("no error")
		}
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the directory it created is still there: %v", err)
		}
		if _, err := Save(context.Background(), dir, ckptSources(tensors), WithMaxShardSize(200)); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("cancel", func(t *testing.T) {
		dir := t.TempDir()
		ctx, cancel := context.WithCancel(context.Background())
		srcs := ckptSources(tensors)
		srcs[5].Open = func() (io.Reader, error) { cancel(); return bytes.NewReader(make([]byte, 1<<20)), nil }
		if _, err := Save(ctx, dir, srcs, WithMaxShardSize(200)); !errors.Is(err, context.Canceled) {
			t.Errorf("got %v, want context.Canceled", err)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Errorf("directory holds %v after a cancelled save", entries)
		}
	})
}

// TestCheckpointConcurrent reads every tensor from many goroutines while
// another closes the checkpoint; run with -race.
func TestCheckpointConcurrent(t *testing.T) {
	tensors := ckptTensors(t, 30, 10)
	dir := t.TempDir()
	ckptGoodSet(tensors, 4).write(t, dir)
	for _, opts := range [][]Option{nil, {WithLoaderOptions(loader.WithPread())}} {
		c, err := Open(t.Context(), dir, opts...)
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Go(func() {
				for _, name := range names(c) {
					tensor, err := c.Tensor(name)
					if err != nil {
						t.Error(err)
						return
					}
					f, _ := c.File(name)
					buf := make([]byte, tensor.End-tensor.Begin)
					if _, err := f.ReadAt(buf, tensor.Offset()); err != nil && (tensor.End-tensor.Begin) > 0 {
						t.Error(err)
						return
					}
					if !bytes.Equal(buf, tensors[name].Bytes) {
						t.Errorf("goroutine %d: %s differs", g, name)
					}
					for range c.Tensors() {
					}
				}
			})
		}
		wg.Wait()
		wg.Go(func() { c.Close() })
		wg.Go(func() {
			for _, name := range names(c) {
				if tensor, err := c.Tensor(name); err == nil {
					tensor.Bytes() // may fail with fs.ErrClosed
				}
			}
		})
		wg.Wait()
	}
}

// ckptSnapshot returns every file under dir, recursively, by slash path
// relative to dir, with its contents; directories map to nil.
func ckptSnapshot(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || path == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		if d.IsDir() {
			out[filepath.ToSlash(rel)+"/"] = nil
			return nil
		}
		b, err := os.ReadFile(path)
		out[filepath.ToSlash(rel)] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// failRename returns opts with the renames of publish numbered from first
// to last (counting from 1, last 0 meaning all after first) made to fail,
// and a count of the renames tried.
func failRename(opts []Option, first, last int, cause error) ([]Option, *int) {
	calls := new(int)
	rename := func(from, to string) error {
		*calls++
		if first > 0 && *calls >= first && (last == 0 || *calls <= last) {
			return &os.LinkError{Op: "rename", Old: from, New: to, Err: cause}
		}
		return os.Rename(from, to)
	}
	return append(slices.Clone(opts), func(c *config) { c.rename = rename }), calls
}

// TestSaveOverwrite writes a checkpoint over an earlier one with
// the same file names and makes each rename of publishing fail in turn:
// the directory must be left exactly as it was, the earlier checkpoint
// whole, rather than new shards mixed with old ones or old shards lost.
func TestSaveOverwrite(t *testing.T) {
	ctx := context.Background()
	oldTensors := ckptTensors(t, 12, 21)
	newTensors := make(map[string]loader.Data, len(oldTensors)) // same shapes, so same shard names
	for name, d := range oldTensors {
		b := slices.Clone(d.Bytes)
		for i := range b {
			b[i] ^= 0xa5
		}
		newTensors[name] = loader.Data{DType: d.DType, Shape: d.Shape, Bytes: b}
	}
	opts := []Option{WithMaxShardSize(120), WithMetadata(map[string]string{"format": "pt"})}
	setup := func(t *testing.T) (string, map[string][]byte) {
		t.Helper()
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "keep.txt"), []byte("x"), 0o644)
		if _, err := Save(ctx, dir, ckptSources(oldTensors), opts...); err != nil {
			t.Fatal(err)
		}
		return dir, ckptSnapshot(t, dir)
	}
	checkOld := func(t *testing.T, dir string, want map[string][]byte) {
		t.Helper()
		if got := ckptSnapshot(t, dir); !reflect.DeepEqual(got, want) {
			t.Errorf("directory holds %v, want %v as before", slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)))
		}
		c, err := Open(t.Context(), dir)
		if err != nil {
			t.Fatalf("the earlier checkpoint no longer opens: %v", err)
		}
		defer c.Close()
		ckptCheckTensors(t, c, oldTensors)
	}

	// A successful overwrite: the new checkpoint, and nothing else left.
	dir, before := setup(t)
	files := len(before) - 1 // less keep.txt
	if files < 4 {
		t.Fatalf("the earlier checkpoint has %d files; the test wants several shards", files)
	}
	counted, calls := failRename(opts, 0, 0, nil)
	paths, err := Save(ctx, dir, ckptSources(newTensors), counted...)
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) != files {
		t.Fatalf("wrote %d files over %d", len(paths), files)
	}
	if after := ckptSnapshot(t, dir); !slices.Equal(slices.Sorted(maps.Keys(after)), slices.Sorted(maps.Keys(before))) {
		t.Errorf("directory holds %v after the overwrite, want %v", slices.Sorted(maps.Keys(after)), slices.Sorted(maps.Keys(before)))
	}
	c, err := Open(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	ckptCheckTensors(t, c, newTensors)
	c.Close()
	renames := *calls
	if renames != 2*files {
		t.Fatalf("%d renames for %d files; want each set aside, then each moved in", renames, files)
	}

	// A failure at each rename: setting aside an old file, or moving a
	// new one in.
	boom := errors.New("boom")
	for k := 1; k <= renames; k++ {
		t.Run(fmt.Sprint("rename ", k), func(t *testing.T) {
			dir, before := setup(t)
			failing, _ := failRename(opts, k, k, boom)
			_, err := Save(ctx, dir, ckptSources(newTensors), failing...)
			if !errors.Is(err, boom) || loader.Kind(err) != "IoError" {
				t.Fatalf("got %v, want boom", err)
			}
			checkOld(t, dir, before)
		})
	}

	// A failure that also stops the old files from going back: they are
	// kept in the staging directory, and the error says where.
	t.Run("no way back", func(t *testing.T) {
		dir, before := setup(t)
		failing, _ := failRename(opts, files+1, 0, boom)
		_, err := Save(ctx, dir, ckptSources(newTensors), failing...)
		var e *loader.Error
		if !errors.As(err, &e) || !errors.Is(err, boom) || !strings.Contains(e.Detail, "kept in") {
			t.Fatalf("got %v, want boom and where the replaced files are", err)
		}
		aside := e.Detail[strings.LastIndex(e.Detail, " ")+1:]
		for name, b := range before {
			if name == "keep.txt" {
				continue
			}
			if got, err := os.ReadFile(filepath.Join(aside, name)); err != nil || !bytes.Equal(got, b) {
				t.Errorf("%s is not kept in %s: %v", name, aside, err)
			}
		}
	})
}

// TestSourceLength: a source that gives fewer or more bytes than its spec
// fails the save, whether the writer reads it (io.Reader) or it writes
// itself (io.WriterTo), and leaves nothing behind.
func TestSourceLength(t *testing.T) {
	u8 := dtype.Lookup([]byte("U8"))
	for _, c := range []struct {
		name string
		n    int
		want error
	}{{"short", 3, io.ErrUnexpectedEOF}, {"long", 5, loader.ErrTensorInvalidInfo}} {
		for _, r := range []struct {
			name string
			open func(b []byte) io.Reader
		}{
			{"reader", func(b []byte) io.Reader { return io.MultiReader(bytes.NewReader(b)) }},
			{"writerto", func(b []byte) io.Reader { return bytes.NewReader(b) }},
		} {
			t.Run(c.name+"/"+r.name, func(t *testing.T) {
				dir := t.TempDir()
				path := filepath.Join(dir, "out.safetensors")
				src := Source{Spec: loader.Spec{Name: "x", DType: u8, Shape: []uint64{4}},
					Open: func() (io.Reader, error) { return r.open(make([]byte, c.n)), nil }}
				err := WriteFile(context.Background(), path, []Source{src}, nil)
				var e *loader.Error
				if !errors.Is(err, c.want) || !errors.As(err, &e) || e.File != path || e.Tensor != "x" {
					t.Fatalf("got %v, want %v naming %s and tensor x", err, c.want, path)
				}
				if entries, _ := os.ReadDir(dir); len(entries) != 0 {
					t.Errorf("left behind: %v", entries)
				}
			})
		}
	}
}

// TestSourceOfWritesFromMapping: SourceOf's reader (and SourcesOf's, of
// the same spec) hands a mapped file's bytes to the writer as they are in
// the mapping, with no copy between, and resumes where reading left off.
func TestSourceOfWritesFromMapping(t *testing.T) {
	tensors := ckptTensors(t, 4, 9)
	path := filepath.Join(t.TempDir(), "m.safetensors")
	if err := loader.SaveFile(path, tensors, nil); err != nil {
		t.Fatal(err)
	}
	f, err := loader.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m, release, err := f.Mapping()
	defer release()
	if err != nil || m == nil {
		t.Skipf("the file is not mapped on this platform: %v", err)
	}
	all := SourcesOf(f)
	i := -1
	for name, info := range f.Tensors() {
		i++
		if !reflect.DeepEqual(all[i].Spec, SourceOf(info).Spec) {
			t.Errorf("SourcesOf: %+v, SourceOf: %+v", all[i].Spec, SourceOf(info).Spec)
		}
		if (info.End - info.Begin) < 2 {
			continue
		}
		tensor, _ := f.Tensor(name)
		open := SourceOf(tensor).Open
		if i%2 == 1 {
			open = all[i].Open
		}
		r, _ := open()
		first := make([]byte, 1)
		if _, err := io.ReadFull(r, first); err != nil {
			t.Fatal(err)
		}
		w := &mappingWriter{m: m}
		n, err := r.(io.WriterTo).WriteTo(w)
		if err != nil || n != (info.End-info.Begin)-1 {
			t.Fatalf("%s: wrote %d of %d bytes: %v", name, n, (info.End-info.Begin)-1, err)
		}
		if !w.inside {
			t.Errorf("%s: bytes were copied before being written", name)
		}
		if got := append(first, w.got...); !bytes.Equal(got, tensors[name].Bytes) {
			t.Errorf("%s: bytes differ", name)
		}
	}
}

// mappingWriter records what is written and whether every write's bytes
// lie inside m.
type mappingWriter struct {
	m      []byte
	got    []byte
	inside bool
}

func (w *mappingWriter) Write(p []byte) (int, error) {
	lo := uintptr(unsafe.Pointer(unsafe.SliceData(w.m)))
	at := uintptr(unsafe.Pointer(unsafe.SliceData(p)))
	w.inside = len(w.got) == 0 || w.inside
	w.inside = w.inside && at >= lo && at+uintptr(len(p)) <= lo+uintptr(len(w.m))
	w.got = append(w.got, p...)
	return len(p), nil
}

// names returns the names of c's tensors, sorted.
func names(c *Checkpoint) []string {
	return slices.Sorted(maps.Keys(maps.Collect(c.Tensors())))
}

// saved returns the file loader.SaveFile writes for tensors and meta.
func saved(t *testing.T, tensors map[string]loader.Data, meta map[string]string) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "saved.safetensors")
	if err := loader.SaveFile(path, tensors, meta); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestShardNames: shards are named by the path the index was given with,
// joined to their weight_map name, however the directory is reached.
func TestShardNames(t *testing.T) {
	tensors := ckptTensors(t, 6, 14)
	dir := t.TempDir()
	ckptGoodSet(tensors, 2).write(t, dir)
	t.Chdir(dir)
	for _, p := range []string{DefaultIndexName, ".", "./" + DefaultIndexName, filepath.Join(dir, DefaultIndexName)} {
		c, err := Open(t.Context(), p)
		if err != nil {
			t.Fatal(err)
		}
		want := filepath.Join(filepath.Dir(c.Path()), "model-00001-of-00002.safetensors")
		if got := c.Files()[0].Name(); got != want {
			t.Errorf("%s: shard named %q, want %q", p, got, want)
		}
		c.Close()
	}
}

// TestWriteOrder: the order copySources streams sources in is the
// Writer's, for tensors of every type in shuffled order.
func TestWriteOrder(t *testing.T) {
	var srcs []Source
	for i, dt := range dtype.All() {
		for _, name := range []string{"b", "a", "c.10", "c.9"} {
			srcs = append(srcs, Source{Spec: loader.Spec{Name: fmt.Sprintf("%s.%d", name, i%3), DType: dt, Shape: []uint64{8}}})
		}
	}
	rand.New(rand.NewPCG(5, 6)).Shuffle(len(srcs), func(i, j int) { srcs[i], srcs[j] = srcs[j], srcs[i] })
	for i := range srcs {
		srcs[i].Name += fmt.Sprint(".", i) // unique
	}
	specs := make([]loader.Spec, len(srcs))
	for i, s := range srcs {
		specs[i] = s.Spec
	}
	w, err := loader.NewWriter(io.Discard, specs, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := specsIn(srcs, writeOrder(srcs, nil)), w.Tensors(); !reflect.DeepEqual(got, want) {
		t.Errorf("copySources' order\n%v\nthe Writer's\n%v", got, want)
	}
}

// TestEncodeIndexLarge: an index larger than the pieces it is written in
// is the JSON transformers writes (for ASCII names, Go's MarshalIndent
// of the same map), whatever the order of the tensors.
func TestEncodeIndexLarge(t *testing.T) {
	var srcs []Source
	weightMap := map[string]string{}
	names := []string{"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"}
	groups := make([][]int, 2)
	for i := range 30000 {
		name := fmt.Sprintf("model.layers.%d.mlp.experts.%d.down_proj.weight", i%977, i)
		srcs = append(srcs, Source{Spec: loader.Spec{Name: name}})
		groups[i%2] = append(groups[i%2], i)
		weightMap[name] = names[i%2]
	}
	var out bytes.Buffer
	if err := encodeIndex(&out, names, groups, srcs, 12345); err != nil {
		t.Fatal(err)
	}
	want, err := json.MarshalIndent(map[string]any{"metadata": map[string]int{"total_size": 12345}, "weight_map": weightMap}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if out.Len() < 2*copyBufSize || !bytes.Equal(out.Bytes(), append(want, '\n')) {
		t.Errorf("an index of %d bytes differs from MarshalIndent's %d", out.Len(), len(want)+1)
	}
}
