package bench

import (
	"flag"
	"io"
	"strings"
	"testing"

	"github.com/stload/stload/device"
)

// TestTrialVariant parses gpu-trial's variant flags and checks the
// options they make and the combinations they refuse.
func TestTrialVariant(t *testing.T) {
	for _, tt := range []struct {
		args    string
		ringSet bool
		opts    int
		tuning  device.Tuning
		err     string
	}{
		{"", false, 0, device.Tuning{}, ""},
		{"-direct=false -lazy-pin -host-alloc mapped", false, 1, device.Tuning{NoDirectIO: true, LazyPinning: true, MappedHost: true}, ""},
		{"-lazy-pin", false, 1, device.Tuning{LazyPinning: true}, ""},
		{"-ring llc", false, 2, device.Tuning{}, ""},
		{"-ring llc", true, 0, device.Tuning{}, "sets the chunk size"},
		{"-host-alloc huge", false, 0, device.Tuning{}, "want pinned or mapped"},
		{"-ring l2", false, 0, device.Tuning{}, "want llc"},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		var v trialVariant
		v.flags(fs)
		if err := fs.Parse(strings.Fields(tt.args)); err != nil {
			t.Fatal(err)
		}
		opts, err := v.options(tt.ringSet)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%q: err %v, want %q", tt.args, err, tt.err)
			}
			continue
		}
		if err != nil || len(opts) != tt.opts {
			t.Errorf("%q: %d options, %v; want %d", tt.args, len(opts), err, tt.opts)
		}
		if got, _ := v.tuning(); got != tt.tuning {
			t.Errorf("%q: tuning %+v, want %+v", tt.args, got, tt.tuning)
		}
	}
}

// TestLLCRing checks the LLC-sized ring's geometry: half the cache in
// 1 MiB chunks, never fewer than 8.
func TestLLCRing(t *testing.T) {
	for _, tt := range []struct {
		llc          int64
		size, chunks int
	}{
		{32 << 20, 1 << 20, 16},
		{105 << 20, 1 << 20, 52},
		{4 << 20, 1 << 20, 8},
	} {
		if s, c := llcRing(tt.llc); s != tt.size || c != tt.chunks {
			t.Errorf("llcRing(%d) = %d × %d, want %d × %d", tt.llc, c, s, tt.chunks, tt.size)
		}
	}
	if n := lastLevelCache(); n <= 0 {
		t.Errorf("lastLevelCache() = %d", n)
	}
}

// TestContentionCeiling takes, per reader count, the lower of the fill
// and copy rates measured together, and of those the highest.
func TestContentionCeiling(t *testing.T) {
	fig := func(name string, gbps float64) *Figure {
		return &Figure{Group: "gpu-contention", Name: name, Bytes: 1e9, Runs: []float64{1 / gbps}, Median: 1 / gbps, GBps: gbps}
	}
	figs := []*Figure{
		fig("contention: fill with 8 goroutine(s) while copying", 40),
		fig("contention: pinned H2D while 8 goroutine(s) fill", 45),
		fig("contention: fill with 16 goroutine(s) while copying", 60),
		fig("contention: pinned H2D while 16 goroutine(s) fill", 38),
		fig("fill: 16 goroutine(s) copy the mapped file into a cycling pinned ring, alone", 70),
	}
	c := contentionCeiling(figs)
	if c == nil || c.GBps != 40 || !strings.Contains(c.Name, " 8 goroutines") {
		t.Fatalf("ceiling %+v", c)
	}
	if contentionCeiling(figs[4:]) != nil {
		t.Error("a ceiling without side-by-side figures")
	}
}
