package main

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stload/stload/device"
)

// tinyLlamaBytes is the size of tiny-llama's tensor data (BF16).
const tinyLlamaBytes = 213632

// TestLoadCPU loads the shipped model onto the CPU in the ways README and
// the help show.
func TestLoadCPU(t *testing.T) {
	tests := []struct {
		name string
		args []string
		// text output: substrings of stdout
		text []string
		// JSON output: expected fields
		tensors       int
		bytes, copied int64
		dtype         string
		verified      bool
	}{
		{name: "default", args: nil, text: []string{
			tinyLlamaPath + ": 21 tensors, 213.6 kB loaded onto cpu in ",
			"DEVICE  TENSORS     BYTES", "\ncpu          21  213.6 kB",
			"peak pinned host memory: 0 B", "zero-copy views", "--device auto chose the CPU",
		}},
		{name: "verify", args: []string{"--verify", "--device", "cpu"}, text: []string{"verify: ok, every tensor matches the file"}},
		{name: "copy", args: []string{"--copy", "--device=cpu"}, text: []string{"loaded onto cpu in", "GB/s)"}},
		{name: "dtype", args: []string{"--dtype", "f32"}, text: []string{"21 tensors, 427.3 kB as F32 loaded onto cpu"}},
		{name: "dtype torch", args: []string{"--dtype", "torch.float16"}, text: []string{"21 tensors, 213.6 kB as F16 loaded onto cpu"}},
		{name: "dtype float32", args: []string{"--dtype", "float32", "--verify"}, text: []string{"427.3 kB as F32 loaded", "verify: ok"}},
		{name: "dtype fp8", args: []string{"--dtype", "float8_e4m3fn", "--verify"}, text: []string{"21 tensors, 106.8 kB as F8_E4M3 loaded onto cpu", "verify: ok"}},
		{name: "shard", args: []string{"--device", "cpu", "--shard", "*.q_proj.weight=-1@cpu,cpu", "--verify"},
			text: []string{"21 tensors (23 placed parts)", "verify: ok"}},
		{name: "json", args: []string{"--json"}, tensors: 21, bytes: tinyLlamaBytes, copied: 0},
		{name: "json verify", args: []string{"--json", "--verify"}, tensors: 21, bytes: tinyLlamaBytes, verified: true},
		{name: "json copy", args: []string{"--json", "--copy", "--readers", "2"}, tensors: 21, bytes: tinyLlamaBytes, copied: tinyLlamaBytes},
		{name: "json dtype verify", args: []string{"--json", "--dtype", "F32", "--verify"}, tensors: 21,
			bytes: 2 * tinyLlamaBytes, copied: 2 * tinyLlamaBytes, dtype: "F32", verified: true},
		{name: "json map shard", args: []string{"--json", "--map", "lm_head.weight=cpu", "--shard", "model.embed_tokens.weight=0@cpu,cpu,cpu", "--device", "cpu", "--verify"},
			tensors: 23, bytes: tinyLlamaBytes, copied: 0, verified: true}, // row splits of a mapped file are views too
		// Column splits of a mapped file are copies, the rest views: the
		// device's rate counts the copies only.
		{name: "json views and copies", args: []string{"--json", "--device", "cpu,cpu", "--shard", "*.q_proj.weight=-1@cpu,cpu"},
			tensors: 23, bytes: tinyLlamaBytes, copied: 16384},
		{name: "cpu twice", args: []string{"--device", "cpu,cpu"}, text: []string{"loaded onto cpu in", "\ncpu          21  213.6 kB"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := stload(t, append(append([]string{"load"}, tc.args...), tinyLlamaPath)...)
			if r.code != 0 || r.stderr != "" {
				t.Fatal(r)
			}
			if tc.text != nil {
				for _, s := range tc.text {
					if !strings.Contains(r.stdout, s) {
						t.Errorf("stdout lacks %q:\n%s", s, r.stdout)
					}
				}
				return
			}
			var got loadJSON
			decodeLine(t, r.stdout, &got)
			if !got.OK || got.Input != tinyLlamaPath || got.Files != 1 || got.Tensors != tc.tensors || got.Bytes != tc.bytes ||
				got.Copied != tc.copied || got.DType != tc.dtype || got.Verified != tc.verified || got.PeakPinned != 0 {
				t.Errorf("got %s", r.stdout)
			}
			if len(got.Devices) != 1 || got.Devices[0].Device != "cpu" || got.Devices[0].Tensors != tc.tensors || got.Devices[0].Bytes != tc.bytes {
				t.Errorf("devices: %s", r.stdout)
			}
			if d := got.Devices[0]; d.Copied != tc.copied || (d.GBps > 0) != (tc.copied > 0) {
				t.Errorf("device copied %d bytes at %g GB/s, want %d bytes", d.Copied, d.GBps, tc.copied)
			}
			want := []string{"ok", "input", "files", "tensors", "bytes", "copied", "open_ns", "elapsed_ns", "gbps", "chunks", "peak_pinned"}
			if tc.dtype != "" {
				want = append(want, "dtype")
			}
			want = append(want, "devices")
			if tc.verified {
				want = append(want, "verified")
			}
			if keys := jsonKeys(t, []byte(r.stdout)); strings.Join(keys, ",") != strings.Join(want, ",") {
				t.Errorf("keys %v, want %v", keys, want)
			}
		})
	}
}

// TestLoadErrors checks the exit statuses: 2 for a command line load
// cannot use, 1 for a device or input that fails.
func TestLoadErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing.safetensors")
	tests := []struct {
		name   string
		args   []string
		code   int
		stderr string // substring of stderr
		kind   string // with --json: the kind on stdout
	}{
		{"gpu without cuda", []string{"--device", "cuda"}, 1, "-tags cuda", ""},
		{"gpu index without cuda", []string{"--device", "1"}, 1, "-tags cuda", ""},
		{"gpu json", []string{"--device", "cuda:0", "--json"}, 1, "", "NoBackend"},
		{"gpu in map", []string{"--device", "cpu", "--map", "lm_head.weight=cuda:0"}, 1, "-tags cuda", ""},
		{"gpu in shard", []string{"--shard", "lm_head.weight=0@cuda:0,cuda:1", "--json"}, 1, "", "NoBackend"},
		{"unknown backend", []string{"--device", "tpu:0"}, 1, "no \"tpu\" backend", ""},
		{"bad device", []string{"--device", "cuda:x"}, 2, `--device "cuda:x"`, ""},
		{"empty device", []string{"--device", ""}, 2, "--device", ""},
		{"map without =", []string{"--map", "lm_head.weight"}, 2, "want PATTERN=DEVICE", ""},
		{"map bad pattern", []string{"--map", "[=cpu"}, 2, "pattern", ""},
		{"map bad device", []string{"--map", "x=cuda:-1"}, 2, "invalid value", ""},
		{"shard without =", []string{"--shard", "x"}, 2, "PATTERN=DIM", ""},
		{"shard bad dim", []string{"--shard", "x=a"}, 2, "DIM must be an integer", ""},
		{"shard bad devices", []string{"--shard", "x=0@cuda:y"}, 2, "invalid value", ""},
		{"shard empty pattern", []string{"--shard", "=0"}, 2, "PATTERN=DIM", ""},
		{"shard bad dim for tensor", []string{"--device", "cpu", "--shard", "model.norm.weight=1@cpu,cpu", "--json"}, 1, "", "InvalidPlacement"},
		{"bad dtype", []string{"--dtype", "int4"}, 2, `"int4"`, ""},
		{"integer dtype", []string{"--dtype", "torch.int8"}, 2, "not a conversion target", ""},
		{"chunk size too small", []string{"--chunk-size", "1KiB"}, 2, "--chunk-size", ""},
		{"chunk size garbage", []string{"--chunk-size", "lots"}, 2, "invalid value", ""},
		{"zero chunks", []string{"--chunks", "0"}, 2, "positive integer", ""},
		{"negative readers", []string{"--readers", "-1"}, 2, "positive integer", ""},
		{"streams garbage", []string{"--streams", "x"}, 2, "positive integer", ""},
		{"two inputs", []string{tinyLlamaPath}, 2, "too many arguments", ""},
		{"unknown flag", []string{"--frob"}, 2, "not defined", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := stload(t, append(append([]string{"load"}, tc.args...), tinyLlamaPath)...)
			if r.code != tc.code {
				t.Fatalf("exit %d, want %d\n%v", r.code, tc.code, r)
			}
			if tc.stderr != "" && !strings.Contains(r.stderr, tc.stderr) {
				t.Errorf("stderr lacks %q\n%v", tc.stderr, r)
			}
			if tc.code == 2 && (!strings.Contains(r.stderr, "usage: stload load") || !strings.HasSuffix(r.stderr, "see: stload help load\n") || strings.Count(r.stderr, "\n") != 3) {
				t.Errorf("no usage\n%v", r)
			}
			if tc.kind != "" {
				var got errorJSON
				decodeLine(t, r.stdout, &got)
				if got.OK || got.Kind != tc.kind {
					t.Errorf("got %s, want kind %s", r.stdout, tc.kind)
				}
			} else if r.stdout != "" {
				t.Errorf("unexpected stdout\n%v", r)
			}
		})
	}

	r := stload(t, "load", "--json", missing)
	var got errorJSON
	decodeLine(t, r.stdout, &got)
	if r.code != 1 || got.Kind != "IoError" || !strings.Contains(got.Error, missing) {
		t.Errorf("missing input: %v", r)
	}
	r = stload(t, "load", filepath.Join(conformance, "invalid", "offsets_hole.safetensors"))
	if r.code != 1 || !strings.Contains(r.stderr, "[InvalidOffset]") {
		t.Errorf("invalid input: %v", r)
	}
}

// TestLoadInterrupted checks the message of a cancelled load.
func TestLoadInterrupted(t *testing.T) {
	err := &device.Error{Op: "load", Err: context.Canceled}
	var out, errb strings.Builder
	if code := loadFailure(context.Background(), "model", err, false, &out, &errb); code != 1 || out.String() != "" ||
		errb.String() != "stload load: model: interrupted; everything loaded was freed\n" {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out.String(), errb.String())
	}
	out.Reset()
	if code := loadFailure(context.Background(), "model", err, true, &out, &errb); code != 1 || !strings.Contains(out.String(), `"kind":"Canceled"`) {
		t.Errorf("json: exit %d, stdout %q", code, out.String())
	}
}

// TestLoadSimulatedGPUs runs the accelerator path on a simulated backend:
// two devices chosen by auto, layers balanced across them, a tensor split
// across both, a small staging ring, and verification; then a device that
// returns wrong bytes, which --verify must catch.
func TestLoadSimulatedGPUs(t *testing.T) {
	sim := newSimGPU(t, 2, 1<<30)
	args := []string{"load", "--json", "--verify", "--chunk-size", "16KiB", "--chunks", "3", "--streams", "1",
		"--shard", "lm_head.weight=0", "--map", "model.norm.weight=cpu", tinyLlamaPath}
	r := stload(t, args...)
	if r.code != 0 {
		t.Fatal(r)
	}
	var got loadJSON
	decodeLine(t, r.stdout, &got)
	if got.Tensors != 22 || got.Bytes != tinyLlamaBytes || !got.Verified || got.Chunks == 0 || got.PeakPinned == 0 || got.PeakPinned > 3*16<<10 {
		t.Errorf("got %s", r.stdout)
	}
	devs := map[string]loadDeviceJSON{}
	for _, d := range got.Devices {
		devs[d.Device] = d
	}
	if len(devs) != 3 || devs[sim.dev(0)].Tensors == 0 || devs[sim.dev(1)].Tensors == 0 || devs["cpu"].Tensors != 1 || devs[sim.dev(0)].Name != "simulated device 0" {
		t.Errorf("devices: %+v", got.Devices)
	}

	// The text report names the devices and the staging.
	r = stload(t, "load", "--device", sim.dev(1), tinyLlamaPath)
	for _, s := range []string{"loaded onto " + sim.dev(1), "NAME", "simulated device 1", "; 1 chunk staged", "peak pinned host memory: 327.7 kB (cap 268.4 MB: 32 staging buffers of 8,388,608 bytes)"} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("text lacks %q:\n%s", s, r.stdout)
		}
	}
	if r.code != 0 || strings.Contains(r.stdout, "auto chose") {
		t.Error(r)
	}

	// A device that gives wrong bytes back.
	sim.corrupt.Store(true)
	r = stload(t, "load", "--verify", "--device", sim.dev(0), tinyLlamaPath)
	if r.code != 1 || !strings.Contains(r.stderr, "[Mismatch]") || !strings.Contains(r.stdout, "loaded onto") || strings.Contains(r.stdout, "verify: ok") {
		t.Errorf("corrupt device: %v", r)
	}
	r = stload(t, "load", "--verify", "--json", "--device", sim.dev(0), tinyLlamaPath)
	var e errorJSON
	decodeLine(t, r.stdout, &e)
	if r.code != 1 || e.Kind != "Mismatch" {
		t.Errorf("corrupt device, json: %v", r)
	}
	// Without --verify nothing is read back.
	if r := stload(t, "load", "--device", sim.dev(0), tinyLlamaPath); r.code != 0 {
		t.Error(r)
	}

	// A device that does not exist.
	r = stload(t, "load", "--device", sim.dev(2), tinyLlamaPath)
	if r.code != 1 || !strings.Contains(r.stderr, "[NoDevice]") {
		t.Errorf("missing device: %v", r)
	}
}

// TestLoadDryRun prints the plan and loads nothing.
func TestLoadDryRun(t *testing.T) {
	r := stload(t, "load", "--dry-run", "--device", "cpu", "--copy", tinyLlamaPath)
	if r.code != 0 || !strings.HasPrefix(r.stdout, "plan: 1 files, 213632 bytes to place") || !strings.Contains(r.stdout, "cpu: 21 tensors, 1 allocations") {
		t.Error(r)
	}
}

// TestLoadREADME runs the command README shows, as go run would, and
// checks that the file it names exists where README says.
func TestLoadREADME(t *testing.T) {
	if _, err := os.Stat(tinyLlamaPath); err != nil {
		t.Fatal(err)
	}
	r := stload(t, "load", tinyLlamaPath)
	if r.code != 0 || r.stderr != "" || strings.Count(r.stdout, "\n") > 12 {
		t.Errorf("%v", r)
	}
}

// TestLoadHelpDefaults checks that load's help states the device
// package's pipeline defaults, which it spells out by hand.
func TestLoadHelpDefaults(t *testing.T) {
	for _, want := range []string{
		"(default " + strconv.Itoa(device.DefaultChunkSize>>20) + "MiB;",
		"(default " + strconv.Itoa(device.DefaultChunks) + ")",
		"(default " + strconv.Itoa(device.DefaultStreams) + ")",
		"(default CPUs-2, 2 to 16,",
	} {
		if !strings.Contains(loadCmd.usage, want) {
			t.Errorf("load's help lacks %q", want)
		}
	}
}

// TestLoadAutoNoBackend checks what load says when --device auto finds no
// GPU backend in the build: one line, in the command's words, naming the
// GPU build of the command (not the library's advice to programs).
func TestLoadAutoNoBackend(t *testing.T) {
	if cudaBuild {
		t.Skip("the cuda build has the backend")
	}
	r := stload(t, "load", tinyLlamaPath)
	want := "\n--device auto chose the CPU: this stload was built without CUDA (the GPU build: go install -tags cuda github.com/stload/stload/cmd/stload@latest)\n"
	if r.code != 0 || !strings.HasSuffix(r.stdout, want) || strings.Contains(r.stdout, "import _") {
		t.Errorf("%v\nwant stdout ending %q", r, want)
	}
}

// TestLoadNoCUDAHint checks that a GPU asked of a build without CUDA
// fails with the device package's error unedited, followed by the CLI's
// hint (the GPU build of stload) on a line of its own; --json keeps its
// one line, and other backends get no hint.
func TestLoadNoCUDAHint(t *testing.T) {
	if cudaBuild {
		t.Skip("the cuda build has the backend")
	}
	tests := []struct {
		name string
		args []string
		dev  device.Device // the device the error names
		hint bool
	}{
		{"device", []string{"--device", "cuda:0"}, device.GPU(0), true},
		{"bare index", []string{"--device", "1"}, device.GPU(1), true},
		{"list", []string{"--device", "cpu,cuda:2"}, device.GPU(2), true},
		{"map", []string{"--device", "cpu", "--map", "lm_head.weight=cuda:0"}, device.GPU(0), true},
		{"shard", []string{"--shard", "lm_head.weight=0@cuda:0,cuda:1"}, device.GPU(0), true},
		{"other backend", []string{"--device", "tpu:0"}, device.Device{Backend: "tpu"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			lib := device.Check(tc.dev)
			if lib == nil {
				t.Fatalf("%v opens", tc.dev)
			}
			want := "stload: " + lib.Error() + " [NoBackend]\n"
			if tc.hint {
				want += cudaHint + "\n"
			}
			r := stload(t, append(append([]string{"load"}, tc.args...), tinyLlamaPath)...)
			if r.code != 1 || r.stdout != "" || r.stderr != want {
				t.Errorf("%v\nwant stderr %q", r, want)
			}
			r = stload(t, append(append([]string{"load", "--json"}, tc.args...), tinyLlamaPath)...)
			var got errorJSON
			decodeLine(t, r.stdout, &got)
			if r.code != 1 || r.stderr != "" || got.Kind != "NoBackend" || got.Error != lib.Error() {
				t.Errorf("--json: %v", r)
			}
		})
	}
}
