package checkpoint_test

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stload/stload/dtype"
	"github.com/stload/stload/loader"
	"github.com/stload/stload/loader/checkpoint"
)

var update = flag.Bool("update", false, "rewrite the example checkpoint in testdata/sharded")

// TestExampleFiles checks that testdata/sharded, the checkpoint the
// examples open, is what Save writes now; go test -update rewrites it.
func TestExampleFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "model.safetensors")
	f32 := func(v ...float32) loader.Data {
		return loader.Data{DType: dtype.F32, Shape: []uint64{2, 2}, Bytes: dtype.AsBytes(v)}
	}
	err := loader.SaveFile(path, map[string]loader.Data{
		"embed.weight":   f32(0.5, -1, 2, 0.25),
		"layer.0.weight": f32(1, 2, 3, 4),
		"lm_head.weight": f32(-0.5, 1.5, 3, -2),
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	f, err := loader.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// Three 16-byte tensors with a 40-byte shard limit make two shards.
	// With -update, Save replaces the example checkpoint whole.
	out := filepath.Join(dir, "sharded")
	if *update {
		out = filepath.Join("testdata", "sharded")
	}
	paths, err := checkpoint.Save(context.Background(), out, checkpoint.SourcesOf(f), checkpoint.WithMaxShardSize(40))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		shipped := filepath.Join("testdata", "sharded", filepath.Base(p))
		a, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(shipped)
		if err != nil {
			t.Fatalf("%v (go test -update writes it)", err)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s is not what Save writes now (go test -update rewrites it)", shipped)
		}
	}
}
