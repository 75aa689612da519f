package main

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// writeManyTensors writes a safetensors file of n one-byte U8 tensors
// with long names, a header of about 100 bytes per tensor, and returns
// its path and header size.
func writeManyTensors(t testing.TB, n int) (string, int64) {
	t.Helper()
	var hdr []byte
	hdr = append(hdr, '{')
	for i := range n {
		if i > 0 {
			hdr = append(hdr, ',')
		}
		hdr = fmt.Appendf(hdr, `"model.layers.%06d.mlp.experts.%06d.weight":{"dtype":"U8","shape":[1],"data_offsets":[%d,%d]}`, i/64, i%64, i, i+1)
	}
	hdr = append(hdr, '}')
	for len(hdr)%8 != 0 {
		hdr = append(hdr, ' ')
	}
	path := filepath.Join(t.TempDir(), "many.safetensors")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	binary.Write(w, binary.LittleEndian, uint64(len(hdr)))
	w.Write(hdr)
	w.Write(make([]byte, n))
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return path, int64(len(hdr))
}

// allocatedBy returns the bytes run allocates for args, after a GC.
func allocatedBy(t *testing.T, args ...string) int64 {
	t.Helper()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	if code := run(args, io.Discard, io.Discard); code != 0 {
		t.Fatalf("%q: exit %d", args, code)
	}
	runtime.ReadMemStats(&after)
	return int64(after.TotalAlloc - before.TotalAlloc)
}

// TestInspectMemory checks that inspect's output costs little memory
// beyond opening the file, whatever the number of tensors: the tables and
// the JSON are streamed, not built whole. It compares the bytes allocated
// by inspect (text, JSON, with hashes) with validate's on a header of
// 100,000 tensors. (Peak resident memory on a 99 MB header of 1.19M
// tensors, see bench/RESULTS.md: validate 2.4 header sizes, inspect 2.4,
// inspect --json 3.6, inspect --json --sha256 4.1.)
func TestInspectMemory(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("a 10 MB header; allocations counted without the race detector")
	}
	path, size := writeManyTensors(t, 100_000)
	base := allocatedBy(t, "validate", path)
	for _, tc := range []struct {
		args []string
		max  float64 // allocation beyond validate's, in header sizes
	}{
		{[]string{"inspect", path}, 0.1},
		{[]string{"inspect", "--wide", path}, 0.1},
		{[]string{"inspect", "--json", path}, 1},
		// A Slice per tensor hashed (about 260 bytes of garbage each).
		{[]string{"inspect", "--sha256", path}, 4},
		{[]string{"inspect", "--json", "--sha256", path}, 6.5},
	} {
		extra := float64(allocatedBy(t, tc.args...)-base) / float64(size)
		t.Logf("%q: %.2f header sizes beyond validate's", tc.args, extra)
		if extra > tc.max {
			t.Errorf("%q allocates %.2f header sizes more than validate, want at most %.1f", tc.args, extra, tc.max)
		}
	}
}

// TestLoadConvertMemory checks that load and convert hold little for
// each tensor beyond the open file, as inspect does: a load's plan and
// Set are 48-byte placements pointing into the file's table, convert's
// Sources refer to their tensors by position and the writers follow a
// 4-byte order, with no maps keyed by name and no copy of the header. It
// compares the bytes allocated with validate's on a header of 100,000
// tensors. (Peak resident memory on a 99 MB header of 1.19M tensors, see
// bench/RESULTS.md: load 3.2 header sizes, convert 6.3.)
func TestLoadConvertMemory(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("a 10 MB header; allocations counted without the race detector")
	}
	path, size := writeManyTensors(t, 100_000)
	out := t.TempDir()
	base := allocatedBy(t, "validate", path)
	for _, tc := range []struct {
		args []string
		max  float64 // allocation beyond validate's, in header sizes
	}{
		// Before: 9.6, 12.3, 12.3 (a device.Tensor and a map entry per
		// tensor, and the plan's copies of the Tensor).
		{[]string{"load", "--dry-run", path}, 1},
		{[]string{"load", path}, 1},
		{[]string{"load", "--copy", path}, 1},
		// Garbage of about 300 bytes a tensor copied (a Slice, a reader),
		// and the Sources and the Writer's list, kept. Before: 15.4, 27.7
		// (maps of Sources by name, a copy of the header being written).
		{[]string{"convert", path, filepath.Join(out, "one.safetensors")}, 7},
		{[]string{"convert", "--max-shard-size", "50kB", path, filepath.Join(out, "sharded")}, 10},
	} {
		extra := float64(allocatedBy(t, tc.args...)-base) / float64(size)
		t.Logf("%q: %.2f header sizes beyond validate's", tc.args, extra)
		if extra > tc.max {
			t.Errorf("%q allocates %.2f header sizes more than validate, want at most %.1f", tc.args, extra, tc.max)
		}
	}
}
