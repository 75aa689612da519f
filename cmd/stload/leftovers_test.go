package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stload/stload/loader"
	"github.com/stload/stload/loader/checkpoint"
)

// TestLeftovers checks that every reading command warns about what a
// killed save left beside a checkpoint that is whole, and still works.
func TestLeftovers(t *testing.T) {
	dir := t.TempDir()
	index := shardTiny(t, dir)
	staging := filepath.Join(dir, ".stload-shards-k1lled")
	if err := os.Mkdir(staging, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(staging, "model-00001-of-00002.safetensors"), make([]byte, 5000), 0o666); err != nil {
		t.Fatal(err)
	}
	temp := filepath.Join(dir, ".model-00001-of-00003.safetensors.tmp-42")
	if err := os.WriteFile(temp, make([]byte, 3000), 0o666); err != nil {
		t.Fatal(err)
	}
	warnings := "stload: warning: " + temp + ": a temporary file that an interrupted save left (3.0 kB), no part of the checkpoint; the next save to this directory removes it\n" +
		"stload: warning: " + staging + ": a staging folder that an interrupted save left (5.0 kB), no part of the checkpoint; the next save to this directory removes it\n"
	for _, args := range [][]string{
		{"inspect", dir}, {"inspect", "--json", index}, {"validate", dir}, {"dump", "--sha256", dir, "lm_head.weight"},
		{"load", "--json", dir}, {"convert", dir, filepath.Join(t.TempDir(), "out.safetensors")},
	} {
		if r := stload(t, args...); r.code != 0 || r.stderr != warnings {
			t.Errorf("%q: %v\nwant stderr %q", args, r, warnings)
		}
	}
	// A shard opened by its own path has no directory to speak of (only
	// that it is a shard, TestLoneShard).
	lone := "stload: warning: model-00001-of-00003.safetensors is shard 1 of 3; give the directory or its index.json to load the whole checkpoint\n"
	if r := stload(t, "inspect", filepath.Join(dir, "model-00001-of-00003.safetensors")); r.code != 0 || r.stderr != lone {
		t.Errorf("a shard: %v", r)
	}
	// The next save to the directory removes them, as the warning says.
	if r := stload(t, "convert", "--max-shard-size", "100kB", dir, dir); r.code != 0 || r.stderr != warnings {
		t.Fatalf("convert into the directory: %v", r)
	}
	if r := stload(t, "validate", dir); r.code != 0 || r.stderr != "" {
		t.Errorf("after a save: %v", r)
	}
}

// TestIncompleteCheckpoint checks that a directory a killed save left
// without its index fails with the library's message, which says what
// is there and what to do.
func TestIncompleteCheckpoint(t *testing.T) {
	dir := t.TempDir()
	os.Remove(shardTiny(t, dir))
	_, err := checkpoint.Open(context.Background(), dir)
	if loader.Kind(err) != "IncompleteCheckpoint" {
		t.Fatalf("the library says %v", err)
	}
	want := "stload: " + err.Error() + " [IncompleteCheckpoint]\n"
	for _, cmd := range []string{"inspect", "load"} {
		if r := stload(t, cmd, dir); r.code != 1 || r.stderr != want {
			t.Errorf("%s: %v\nwant stderr %q", cmd, r, want)
		}
	}
	r := stload(t, "validate", dir)
	if r.code != 1 || r.stdout != dir+": IncompleteCheckpoint: "+strings.TrimPrefix(err.Error(), dir+": ")+"\n" {
		t.Errorf("validate: %v", r)
	}
	if r := stload(t, "convert", dir, filepath.Join(t.TempDir(), "out.safetensors")); r.code != 1 || r.stderr != want {
		t.Errorf("convert: %v\nwant stderr %q", r, want)
	}
}
