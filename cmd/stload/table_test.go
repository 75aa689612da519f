package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stload/stload/device"
	"github.com/stload/stload/dtype"
	"github.com/stload/stload/loader"
)

func TestEllipsize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"model.layers.0.post_attention_layernorm.weight", 24, "model.layer…rnorm.weight"},
		{"short", 24, "short"},
		{"exactly", 7, "exactly"},
		{"abcdefgh", 7, "abc…fgh"},
		{"αβγδεζηθικ", 5, "αβ…ικ"},
	} {
		got := ellipsize(tc.in, tc.n)
		if got != tc.want || utf8.RuneCountInString(got) > max(tc.n, utf8.RuneCountInString(tc.in)) {
			t.Errorf("ellipsize(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}

func TestSizeText(t *testing.T) {
	for n, want := range map[int64]string{
		0: "0 B", 999: "999 B", 1000: "1.0 kB", 213632: "213.6 kB", 999_949: "999.9 kB", 999_999: "1.0 MB",
		5_000_000_000: "5.0 GB", 1 << 30: "1.1 GB", 9e12: "9.0 TB", 1<<63 - 1: "9.2 EB",
	} {
		if got := sizeText(n); got != want {
			t.Errorf("sizeText(%d) = %q, want %q", n, got, want)
		}
	}
	for n, want := range map[uint64]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567"} {
		if got := groupDigits(n); got != want {
			t.Errorf("groupDigits(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{
		"5GB": 5e9, "5 gb": 5e9, "500MB": 500e6, "100kB": 100e3, "4k": 4000, "4096": 4096, "12B": 12,
		"4GiB": 4 << 30, "512MiB": 512 << 20, "64KiB": 64 << 10, "1TiB": 1 << 40, "1.5GB": 1.5e9, "0": 0,
	} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "GB", "-5GB", "5XB", "5Ki", "1e30GB", "0.1B", "9999999999TB", "five"} {
		if got, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) = %d, want an error", in, got)
		}
	}
}

// TestInspectWidth inspects a file of long tensor names: at 80 columns
// the names lose their least telling components, with --wide they are
// whole, with bytes and offsets (golden file
// testdata/inspect_width.golden).
func TestInspectWidth(t *testing.T) {
	dir := t.TempDir()
	data := map[string]loader.Data{}
	for i, name := range []string{
		"model.language_model.layers.27.mixture_of_experts.experts.63.gate_up_proj.weight_scale_inv",
		"model.language_model.layers.27.mixture_of_experts.experts.63.down_proj.weight",
		"lm_head.weight",
	} {
		data[name] = loader.Data{DType: dtype.BF16, Shape: []uint64{uint64(1000 + i), 3}, Bytes: make([]byte, 2*3*(1000+i))}
	}
	if err := loader.SaveFile(filepath.Join(dir, "long.safetensors"), data, nil); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	var out strings.Builder
	for _, args := range [][]string{{"long.safetensors"}, {"--wide", "long.safetensors"}, {"--sha256", "long.safetensors"}} {
		r := stload(t, append([]string{"inspect"}, args...)...)
		if r.code != 0 || r.stderr != "" {
			t.Fatalf("%q: %v", args, r)
		}
		wide := args[0] == "--wide"
		for _, line := range tableLines(r.stdout, "NAME") {
			if n := utf8.RuneCountInString(line); n > screenWidth && !wide {
				t.Errorf("%q: a line of %d columns: %q", args, n, line)
			}
		}
		if wide != strings.Contains(r.stdout, "model.language_model.layers.27.mixture_of_experts.experts.63.gate_up_proj.weight_scale_inv") {
			t.Errorf("%q: names whole: %v", args, !wide)
		}
		if wide != strings.Contains(r.stdout, "OFFSETS") {
			t.Errorf("%q: offsets: %v", args, wide)
		}
		out.WriteString("$ stload inspect " + strings.Join(args, " ") + "\n" + r.stdout + "\n")
	}
	golden(t, "inspect_width.golden", out.String())
}

// TestLoadText compares the readable report of a load with the golden
// file testdata/load.golden: two GPUs with long names, a CPU of views,
// sizes in decimal units, at most 80 columns.
func TestLoadText(t *testing.T) {
	gpu := func(i int, bytes int64, ms time.Duration) device.DeviceStats {
		return device.DeviceStats{Device: device.GPU(i), Name: "NVIDIA H100 80GB HBM3 (PCIe, MIG 3g.40gb slice " + fmt.Sprint(i) + ")",
			Tensors: 1200, Bytes: bytes, Copied: bytes, Allocs: 4, Elapsed: ms * time.Millisecond, FirstTensor: 3 * time.Millisecond}
	}
	st := device.Stats{
		Elapsed: 1620 * time.Millisecond, Bytes: 32_123_456_789 + 31_000_000_000 + 123_456_789, Copied: 32_123_456_789 + 31_000_000_000,
		Tensors: 2401, Chunks: 7_613, PeakPinned: 256 << 20,
		Devices: []device.DeviceStats{gpu(0, 32_123_456_789, 1620), gpu(1, 31_000_000_000, 1580),
			{Device: device.CPU(), Name: "cpu", Tensors: 1, Bytes: 123_456_789, Allocs: 1, Elapsed: 2 * time.Millisecond}},
	}
	rep := &loadJSON{OK: true, Input: "/models/llama-3-70b/model.safetensors.index.json", Files: 30, Tensors: st.Tensors,
		Bytes: st.Bytes, Copied: st.Copied, OpenNS: int64(41 * time.Millisecond), stats: st, sharded: true,
		ringSize: 8 << 20, ringCount: 32, inputTensors: 2401}
	for _, d := range st.Devices {
		rep.Devices = append(rep.Devices, loadDeviceJSON{Device: d.Device.String(), Name: d.Name})
	}
	var out strings.Builder
	if err := rep.writeText(&out); err != nil {
		t.Fatal(err)
	}
	for _, line := range tableLines(out.String(), "DEVICE") {
		if n := utf8.RuneCountInString(line); n > screenWidth {
			t.Errorf("a table line of %d columns: %q", n, line)
		}
	}
	golden(t, "load.golden", out.String())
}

// tableLines returns the lines of the tables in out: from each line that
// starts with head to the next empty line.
func tableLines(out, head string) []string {
	var lines []string
	in := false
	for _, line := range strings.Split(out, "\n") {
		in = in && line != "" || strings.HasPrefix(line, head)
		if in {
			lines = append(lines, line)
		}
	}
	return lines
}
