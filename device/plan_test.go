package device

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/stload/stload/dtype"
	"github.com/stload/stload/loader"
)

var (
	devA = Device{Backend: "x", Index: 0}
	devB = Device{Backend: "x", Index: 1}
	devC = Device{Backend: "x", Index: 2}
)

// planFor plans files onto target with opts, asking free (may be nil) for
// free memory.
func planFor(files []*loader.File, target []Device, free func(Device) (int64, error), opts ...Option) (*Plan, error) {
	cfg := newConfig(opts)
	if cfg.err != nil {
		return nil, cfg.err
	}
	return buildPlan(files, target, &cfg, free)
}

// pieceGeom is the part of a Piece that plan tests compare.
type pieceGeom struct {
	srcRel, srcLen, rows, rowLen int64
	targets                      []dest
}

func geoms(fp filePlan) []pieceGeom {
	base := 8 + fp.File.HeaderSize()
	var out []pieceGeom
	for _, p := range fp.Pieces {
		out = append(out, pieceGeom{p.SrcOff - base, p.SrcLen, p.Rows, p.RowLen, p.Targets})
	}
	return out
}

func TestPlan(t *testing.T) {
	type check func(t *testing.T, p *Plan, err error)
	wantErr := func(sentinel error, words ...string) check {
		return func(t *testing.T, p *Plan, err error) {
			if !errors.Is(err, sentinel) {
				t.Fatalf("err = %v; want %v", err, sentinel)
			}
			for _, w := range words {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		}
	}
	wantPieces := func(want ...pieceGeom) check {
		return func(t *testing.T, p *Plan, err error) {
			if err != nil {
				t.Fatal(err)
			}
			if got := geoms(p.files[0]); !reflect.DeepEqual(got, want) {
				t.Errorf("pieces:\n got %+v\nwant %+v", got, want)
			}
		}
	}
	lin := func(src, n, alloc, off int64) pieceGeom {
		return pieceGeom{src, n, 1, n, []dest{{Alloc: int(alloc), Off: off, Width: n}}}
	}
	// Files are written widest type first, then by name: a, b (F32), c (F16).
	abc := []Spec{Sp("a", dtype.F32, 4, 4), Sp("b", dtype.F32, 8), Sp("c", dtype.F16, 3)}
	tests := []struct {
		name   string
		specs  []Spec
		target []Device
		opts   []Option
		check  check
	}{
		{name: "one device: one allocation, one coalesced copy", specs: abc, target: []Device{devA},
			check: func(t *testing.T, p *Plan, err error) {
				wantPieces(lin(0, 102, 0, 0))(t, p, err)
				fp := p.files[0]
				if len(fp.Allocs) != 1 || fp.Allocs[0].Size != 102 {
					t.Errorf("allocs %+v", fp.Allocs)
				}
				for i, off := range []int64{0, 64, 96} {
					if fp.Tensors[i].Offset != off {
						t.Errorf("tensor %s at %d, want %d", fp.Tensors[i].source(fp.File).Name, fp.Tensors[i].Offset, off)
					}
				}
				if p.bytes != 102 {
					t.Errorf("Bytes = %d", p.bytes)
				}
			}},
		{name: "align 256 keeps tensors apart", specs: abc, target: []Device{devA}, opts: []Option{WithAlign(256)},
			check: wantPieces(lin(0, 64, 0, 0), lin(64, 32, 0, 256), lin(96, 6, 0, 512))},
		{name: "map rule: two allocations", specs: abc, target: []Device{devA}, opts: []Option{Map("b", devB)},
			check: wantPieces(lin(0, 64, 0, 0), lin(64, 32, 1, 0), lin(96, 6, 0, 64))},
		{name: "first matching rule wins", specs: abc, target: []Device{devA},
			opts:  []Option{Map("[ab]", devB), Map("*", devC)},
			check: wantPieces(lin(0, 96, 0, 0), lin(96, 6, 1, 0))},
		{name: "row split: contiguous ranges", specs: []Spec{Sp("w", dtype.F32, 6, 4)}, target: []Device{devA},
			opts:  []Option{Shard("w", 0, devA, devB)},
			check: wantPieces(lin(0, 48, 0, 0), lin(48, 48, 1, 0))},
		{name: "row split coalesces with neighbours", specs: []Spec{Sp("a", dtype.F32, 2), Sp("w", dtype.F32, 4, 2)},
			target: []Device{devA}, opts: []Option{Shard("w", 0, devA, devB)},
			// a (8 bytes) then w's first half on devA: one copy.
			check: wantPieces(lin(0, 24, 0, 0), lin(24, 16, 1, 0))},
		{name: "uneven row split: first parts get one more", specs: []Spec{Sp("w", dtype.F32, 5, 4)}, target: []Device{devA},
			opts:  []Option{Shard("w", 0, devA, devB, devC)},
			check: wantPieces(lin(0, 32, 0, 0), lin(32, 32, 1, 0), lin(64, 16, 2, 0))},
		{name: "outer dimensions of 1 split contiguously", specs: []Spec{Sp("w", dtype.F32, 1, 6, 4)}, target: []Device{devA},
			opts:  []Option{Shard("w", 1, devA, devB)},
			check: wantPieces(lin(0, 48, 0, 0), lin(48, 48, 1, 0))},
		{name: "column split: one 2-D piece", specs: []Spec{Sp("w", dtype.F32, 4, 6)}, target: []Device{devA},
			opts: []Option{Shard("w", 1, devA, devB)},
			check: wantPieces(pieceGeom{0, 96, 4, 24, []dest{
				{Alloc: 0, Off: 0, Col: 0, Width: 12}, {Alloc: 1, Off: 0, Col: 12, Width: 12}}})},
		{name: "uneven column split of the last dim", specs: []Spec{Sp("w", dtype.F32, 2, 5)}, target: []Device{devA},
			opts: []Option{Shard("w", -1, devA, devB, devC)},
			check: wantPieces(pieceGeom{0, 40, 2, 20, []dest{
				{Alloc: 0, Col: 0, Width: 8}, {Alloc: 1, Col: 8, Width: 8}, {Alloc: 2, Col: 16, Width: 4}}})},
		{name: "split of a middle dim: inner bytes scale", specs: []Spec{Sp("w", dtype.F16, 2, 4, 3)}, target: []Device{devA},
			opts: []Option{Shard("w", 1, devA, devB)},
			check: wantPieces(pieceGeom{0, 48, 2, 24, []dest{
				{Alloc: 0, Col: 0, Width: 12}, {Alloc: 1, Col: 12, Width: 12}}})},
		{name: "more parts than elements: empty parts", specs: []Spec{Sp("w", dtype.F32, 2, 3)}, target: []Device{devA},
			opts: []Option{Shard("w", 0, devA, devB, devC)},
			check: func(t *testing.T, p *Plan, err error) {
				wantPieces(lin(0, 12, 0, 0), lin(12, 12, 1, 0))(t, p, err)
				fp := p.files[0]
				if ts := fp.Tensors; len(ts) != 3 || ts[2].Len != 0 || ts[2].shape(ts[2].source(fp.File))[0] != 0 {
					t.Errorf("parts %+v", ts)
				}
			}},
		{name: "two shards on one device", specs: []Spec{Sp("w", dtype.F32, 2, 2)}, target: []Device{devA},
			opts:  []Option{Shard("w", 1, devA, devA)},
			check: wantPieces(pieceGeom{0, 16, 2, 8, []dest{{Alloc: 0, Off: 0, Col: 0, Width: 4}, {Alloc: 0, Off: 8, Col: 4, Width: 4}}})},
		{name: "sub-byte split on byte boundaries", specs: []Spec{Sp("q", dtype.F4, 4, 4)}, target: []Device{devA},
			opts:  []Option{Shard("q", 1, devA, devB)},
			check: wantPieces(pieceGeom{0, 8, 4, 2, []dest{{Alloc: 0, Col: 0, Width: 1}, {Alloc: 1, Col: 1, Width: 1}}})},
		{name: "sub-byte split inside a byte", specs: []Spec{Sp("q", dtype.F4, 4, 6)}, target: []Device{devA},
			opts: []Option{Shard("q", 1, devA, devB, devC, devA)}, check: wantErr(ErrPlacement, "q", "byte")},
		{name: "sub-byte rows inside a byte", specs: []Spec{Sp("q", dtype.F4, 2, 3)}, target: []Device{devA},
			opts: []Option{Shard("q", 1, devA, devB, devC)}, check: wantErr(ErrPlacement, "q", "rows of 3 F4")},
		{name: "sub-byte row split on byte boundaries", specs: []Spec{Sp("q", dtype.F4, 4, 3)}, target: []Device{devA},
			opts: []Option{Shard("q", 0, devA, devB)}, check: wantPieces(lin(0, 3, 0, 0), lin(3, 3, 1, 0))},
		{name: "split of a missing dimension", specs: []Spec{Sp("v", dtype.F32, 4)}, target: []Device{devA},
			opts: []Option{Shard("v", 1, devA, devB)}, check: wantErr(ErrPlacement, `"v"`, "dimension 1")},
		{name: "conversion doubles BF16 to F32", specs: []Spec{Sp("h", dtype.BF16, 4, 4), Sp("i", dtype.I32, 2)},
			target: []Device{devA}, opts: []Option{WithDType(dtype.F32)},
			check: func(t *testing.T, p *Plan, err error) {
				// i is I32: written first, not converted; h converts and follows.
				wantPieces(lin(0, 8, 0, 0), pieceGeom{8, 32, 1, 64, []dest{{Alloc: 0, Off: 8, Width: 64}}})(t, p, err)
				if ts := p.files[0].Tensors; ts[1].DType != dtype.F32 || ts[0].DType != dtype.I32 {
					t.Errorf("dtypes %v %v", ts[0].DType, ts[1].DType)
				}
			}},
		{name: "column split with conversion", specs: []Spec{Sp("h", dtype.BF16, 2, 4)}, target: []Device{devA},
			opts:  []Option{WithDType(dtype.F32), Shard("h", 1, devA, devB)},
			check: wantPieces(pieceGeom{0, 16, 2, 16, []dest{{Alloc: 0, Col: 0, Width: 8}, {Alloc: 1, Col: 8, Width: 8}}})},
		{name: "CPU: views of the mapping, no copies", specs: abc, target: []Device{CPU()},
			check: func(t *testing.T, p *Plan, err error) {
				wantPieces()(t, p, err)
				if ts := p.files[0].Tensors; ts[0].Alloc != -1 || ts[0].Offset != 8+p.files[0].File.HeaderSize() {
					t.Errorf("tensor a: %+v", ts[0])
				}
				if p.bytes != 0 {
					t.Errorf("Bytes = %d", p.bytes)
				}
			}},
		{name: "CPU with WithCopy copies", specs: abc, target: []Device{CPU()}, opts: []Option{WithCopy()},
			check: wantPieces(lin(0, 102, 0, 0))},
		{name: "bad pattern", specs: abc, target: []Device{devA}, opts: []Option{Map("[", devB)},
			check: wantErr(ErrPlacement, "[")},
		{name: "unsupported conversion", specs: []Spec{Sp("z", dtype.C64, 2), Sp("f", dtype.F8_E4M3, 2)}, target: []Device{devA},
			opts: []Option{WithDType(dtype.F4)}, check: wantErr(ErrPlacement, "WithDType")},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := WriteFile(t, t.TempDir(), fmt.Sprintf("p%d.safetensors", i), uint64(i), tt.specs)
			p, err := planFor([]*loader.File{f}, tt.target, nil, tt.opts...)
			tt.check(t, p, err)
		})
	}
}

func TestPlanSeveralFiles(t *testing.T) {
	dir := t.TempDir()
	f1 := WriteFile(t, dir, "1.safetensors", 1, []Spec{Sp("a", dtype.F32, 4), Sp("w", dtype.F32, 2, 2)})
	f2 := WriteFile(t, dir, "2.safetensors", 2, []Spec{Sp("b", dtype.F32, 4)})
	p, err := planFor([]*loader.File{f1, f2}, []Device{devA}, nil, Shard("w", 1, devA, devB))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.files) != 2 || len(p.files[0].Allocs) != 2 || len(p.files[1].Allocs) != 1 {
		t.Fatalf("allocations per file: %+v / %+v", p.files[0].Allocs, p.files[1].Allocs)
	}
	if !strings.Contains(p.String(), "x:1: 1 tensors, 1 allocations, 8 bytes") {
		t.Errorf("String:\n%s", p)
	}
	f3 := WriteFile(t, dir, "3.safetensors", 3, []Spec{Sp("a", dtype.F32, 1)})
	if _, err := planFor([]*loader.File{f1, f3}, []Device{devA}, nil); !errors.Is(err, ErrPlacement) || !strings.Contains(err.Error(), `"a"`) {
		t.Errorf("duplicate name across files: %v", err)
	}
}

func TestLayerKey(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"model.layers.12.mlp.up.weight", "model.layers.12."},
		{"model.layers.3.mlp.experts.17.w1", "model.layers.3."},
		{"lm_head.weight", "lm_head.weight"},
		{"h.0", "h.0"},
		{"blocks.007.attn", "blocks.007."},
		{"x1.y2", "x1.y2"},
	} {
		if got := layerKey(tt.in); got != tt.want {
			t.Errorf("layerKey(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	for _, tt := range []struct {
		a, b string
		want int
	}{{"l.2.", "l.10.", -1}, {"l.10.", "l.2.", 1}, {"a", "b", -1}, {"l.02.", "l.2.", 0}, {"l.2", "l.2.", -1}} {
		if got := naturalCompare(tt.a, tt.b); got != tt.want {
			t.Errorf("naturalCompare(%q, %q) = %d", tt.a, tt.b, got)
		}
	}
}

func TestPlanBalance(t *testing.T) {
	f := WriteFile(t, t.TempDir(), "m.safetensors", 9, Layered(12, dtype.F32, 16))
	for _, tt := range []struct {
		name string
		free []int64
		lo   float64 // share of devA's bytes, bounds
		hi   float64
	}{
		{"equal", []int64{1 << 20, 1 << 20}, 0.40, 0.60},
		{"three to one", []int64{3 << 20, 1 << 20}, 0.65, 0.85},
	} {
		t.Run(tt.name, func(t *testing.T) {
			free := func(d Device) (int64, error) { return tt.free[d.Index], nil }
			p, err := planFor([]*loader.File{f}, []Device{devA, devB}, free)
			if err != nil {
				t.Fatal(err)
			}
			dev := make(map[string]int)
			var bytes [2]int64
			for _, pl := range p.files[0].Tensors {
				k := layerKey(pl.source(f).Name)
				if d, ok := dev[k]; ok && d != int(pl.Device) {
					t.Errorf("layer %s split across devices", k)
				}
				dev[k] = int(pl.Device)
				bytes[pl.Device] += pl.Len
			}
			// Layers are in order: no layer on devA after one on devB.
			for i := range 11 {
				if dev[fmt.Sprintf("model.layers.%d.", i)] > dev[fmt.Sprintf("model.layers.%d.", i+1)] {
					t.Errorf("layer %d on a later device than layer %d", i, i+1)
				}
			}
			share := float64(bytes[0]) / float64(bytes[0]+bytes[1])
			if share < tt.lo || share > tt.hi {
				t.Errorf("devA holds %.2f of the bytes, want %.2f–%.2f", share, tt.lo, tt.hi)
			}
		})
	}
	t.Run("does not fit", func(t *testing.T) {
		free := func(Device) (int64, error) { return 1000, nil }
		_, err := planFor([]*loader.File{f}, []Device{devA, devB}, free)
		if !errors.Is(err, ErrOutOfMemory) {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("single device too small", func(t *testing.T) {
		free := func(Device) (int64, error) { return 1000, nil }
		_, err := planFor([]*loader.File{f}, []Device{devB}, free)
		if !errors.Is(err, ErrOutOfMemory) || !strings.Contains(err.Error(), "x:1") {
			t.Errorf("err = %v", err)
		}
	})
}

// TestPlanRepeatedTarget: with several distinct target devices a repeated
// one still counts once: balanced as two devices, whatever the order of
// the repeats, and a Shard rule without devices makes two parts.
func TestPlanRepeatedTarget(t *testing.T) {
	f := WriteFile(t, t.TempDir(), "m.safetensors", 11, Layered(4, dtype.F32, 16))
	p, err := planFor([]*loader.File{f}, []Device{devA, devB, devA, devB}, nil, Shard("*.up_proj.weight", 1))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.devices) != 2 {
		t.Errorf("plan devices %v", p.devices)
	}
	for _, pl := range p.files[0].Tensors {
		if name := pl.source(f).Name; strings.HasSuffix(name, "up_proj.weight") && pl.Shards != 2 {
			t.Errorf("%s: %d parts, want 2", name, pl.Shards)
		}
	}
}
