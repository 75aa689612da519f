package bench

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stload/stload/loader"
)

// These tests check that the harness works, on tiny sizes; the figures
// themselves are never pass/fail.

func TestFillIsAFunctionOfOffset(t *testing.T) {
	whole := make([]byte, 1<<20+13)
	Fill(whole, 42, 0)
	pieces := make([]byte, len(whole))
	for off := 0; off < len(pieces); off += 4096 {
		Fill(pieces[off:min(off+4096, len(pieces))], 42, uint64(off/8))
	}
	if !bytes.Equal(whole, pieces) {
		t.Fatal("filling in pieces differs from filling whole")
	}
	par := make([]byte, len(whole))
	FillParallel(par, 42, 0, 3)
	if !bytes.Equal(whole, par) {
		t.Fatal("FillParallel differs from Fill")
	}
	zeros := 0
	for _, b := range whole {
		if b == 0 {
			zeros++
		}
	}
	if zeros > len(whole)/128 {
		t.Fatalf("%d zero bytes in %d: not random", zeros, len(whole))
	}
	other := make([]byte, 64)
	Fill(other, 43, 0)
	if bytes.Equal(other, whole[:64]) {
		t.Fatal("seeds 42 and 43 give the same bytes")
	}
}

func TestPlansKeepTheirProportions(t *testing.T) {
	specs := LlamaSpecs(32e9)
	if n := len(specs); n < 550 || n > 700 {
		t.Errorf("32 GB llama has %d tensors, want about 600", n)
	}
	if p := payload(specs); p < 30e9 || p > 34e9 {
		t.Errorf("32 GB llama has %d bytes", p)
	}
	if s := specs[1].Shape; s[0] != 4096 || s[1] != 4096 {
		t.Errorf("32 GB llama q_proj is %v, want Llama-3-8B's 4096×4096", s)
	}
	for _, size := range []int64{8 << 20, 1 << 30, 8e9} {
		if p := payload(LlamaSpecs(size)); float64(p) < 0.8*float64(size) || float64(p) > 1.25*float64(size) {
			t.Errorf("llama of %d bytes has %d", size, p)
		}
	}
	moe := MoESpecs(16e9, 48, 128)
	if len(moe) != 18867 {
		t.Errorf("moe has %d tensors, want Qwen3-30B-A3B's 18,867", len(moe))
	}
	if p := payload(moe); p < 14e9 || p > 18e9 {
		t.Errorf("16 GB moe has %d bytes", p)
	}
	for _, s := range moe {
		if strings.Contains(s.Name, "experts") {
			if b := specBytes(s); b < 512<<10 || b > 4<<20 {
				t.Errorf("expert %s is %d bytes, want 0.5–4 MiB", s.Name, b)
			}
			break
		}
	}
	groups := shard(LlamaSpecs(64<<20), 4)
	n := 0
	for _, g := range groups {
		n += len(g)
		if len(g) == 0 {
			t.Error("empty shard")
		}
	}
	if len(groups) != 4 || n != len(LlamaSpecs(64<<20)) {
		t.Errorf("sharding gave %d groups holding %d tensors", len(groups), n)
	}
}

// checkFile opens a generated file and checks that its data section is
// the seed's stream.
func checkFile(t *testing.T, path string, seed uint64, tensors int) {
	t.Helper()
	f, err := loader.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if n := countTensors(f); n != tensors {
		t.Errorf("%s: %d tensors, want %d", path, n, tensors)
	}
	m, release, err := f.Mapping()
	if err != nil || m == nil {
		t.Fatalf("%s: not mapped: %v", path, err)
	}
	defer release()
	data := m[8+f.HeaderSize():]
	want := make([]byte, len(data))
	Fill(want, seed, 0)
	if !bytes.Equal(data, want) {
		t.Errorf("%s: data section is not the stream of seed %d", path, seed)
	}
}

func TestGenerateEveryKind(t *testing.T) {
	dir := t.TempDir()
	for _, r := range []GenRequest{
		{Kind: KindLlama, Size: 8 << 20},
		{Kind: KindMoE, Size: 2 << 20, Layers: 2, Experts: 4},
		{Kind: KindMany, Tensors: 100},
	} {
		r.Seed, r.Out = 5, filepath.Join(dir, r.Kind+".safetensors")
		files, err := Generate(r)
		if err != nil {
			t.Fatal(err)
		}
		checkFile(t, r.Out, 5, files[0].Tensors)
		// The durable path writes the very same bytes.
		r.Durable, r.Out = true, filepath.Join(dir, r.Kind+"-durable.safetensors")
		if _, err := Generate(r); err != nil {
			t.Fatal(err)
		}
		a, _ := os.ReadFile(files[0].Path)
		b, _ := os.ReadFile(r.Out)
		if !bytes.Equal(a, b) {
			t.Errorf("%s: durable and parallel writers differ", r.Kind)
		}
	}
	sdir := filepath.Join(dir, "sharded")
	files, err := Generate(GenRequest{Kind: KindSharded, Size: 8 << 20, Shards: 3, Out: sdir, Seed: 9})
	if err != nil {
		t.Fatal(err)
	}
	var index struct {
		Metadata  map[string]int64  `json:"metadata"`
		WeightMap map[string]string `json:"weight_map"`
	}
	b, err := os.ReadFile(filepath.Join(sdir, "model.safetensors.index.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &index); err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, f := range files {
		total += f.Payload
	}
	if len(files) != 3 || index.Metadata["total_size"] != total || len(index.WeightMap) != len(LlamaSpecs(8<<20)) {
		t.Errorf("sharded: %d files, index %v total vs %d, %d names", len(files), index.Metadata, total, len(index.WeightMap))
	}
	for name, file := range index.WeightMap {
		f, err := loader.Open(filepath.Join(sdir, file))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Tensor(name); err != nil {
			t.Errorf("index maps %s to %s, which lacks it", name, file)
		}
		f.Close()
	}
}

func TestRunCPUTiny(t *testing.T) {
	var log bytes.Buffer
	rep, err := RunCPU(CPUOptions{Dir: t.TempDir(), ReadSize: 4 << 20, HeaderTensors: 200,
		ConvertSize: 1 << 20, CopySize: 2 << 20, Rounds: 1, Threads: 2, Durable: true, Log: &log})
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	groups := map[string]int{}
	for _, f := range rep.Figures {
		groups[f.Group]++
		if len(f.Runs) == 0 || f.Median <= 0 {
			t.Errorf("%s: no runs", f.Name)
		}
	}
	for _, g := range []string{"gen", "parse", "read", "save", "convert"} {
		if groups[g] == 0 {
			t.Errorf("no figures in group %s", g)
		}
	}
	if len(rep.Ratios) < 10 {
		t.Errorf("%d ratios", len(rep.Ratios))
	}
	var md, js bytes.Buffer
	rep.WriteMarkdown(&md)
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"### Ratios", "nlpodyssey", "pread", "µs/tensor"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("markdown lacks %q", want)
		}
	}
	var back Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || len(back.Figures) != len(rep.Figures) {
		t.Errorf("JSON round trip: %v", err)
	}
}

func TestMainGenWarmCeilingReport(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "l.safetensors")
	var out, errb bytes.Buffer
	if rc := Main([]string{"gen", "-kind", "llama", "-size", "4MiB", "-out", path}, &out, &errb); rc != 0 {
		t.Fatalf("gen: %d %s", rc, errb.String())
	}
	if rc := Main([]string{"warm", path}, &out, &errb); rc != 0 {
		t.Fatalf("warm: %d %s", rc, errb.String())
	}
	if rc := Main([]string{"ceiling", "-file", path, "-rounds", "1", "-copy-size", "1MiB", "-threads", "1,2"}, &out, &errb); rc != 0 {
		t.Fatalf("ceiling: %d %s", rc, errb.String())
	}
	// Trials as the GPU script collects them, including the Python ones.
	tr := func(loader, label string, round int, s float64) string {
		ok := true
		b, _ := json.Marshal(Trial{Kind: "trial", Loader: loader, Label: label, Round: round, Device: "cuda:0",
			Bytes: 1e9, Tensors: 100, Seconds: s, PinnedBytes: 256 << 20, Verified: &ok})
		return string(b)
	}
	lines := []string{
		`{"kind":"figure","group":"gpu-ceiling","name":"pinned H2D 256 MiB, 2 streams","impl":"ceiling","threads":1,"bytes":1000000000,"runs_s":[0.02],"median_s":0.02,"min_s":0.02,"max_s":0.02,"gbps":50}`,
		"some log line",
	}
	for r := range 3 {
		lines = append(lines, tr("stload", "llama", r, 0.025), tr("safe_open", "llama", r, 0.25), tr("stload", "moe", r, 0.026))
	}
	in := filepath.Join(dir, "trials.jsonl")
	os.WriteFile(in, []byte(out.String()+strings.Join(lines, "\n")+"\n"), 0o644)
	out.Reset()
	if rc := Main([]string{"report", "-json", filepath.Join(dir, "r.json"), in}, &out, &errb); rc != 0 {
		t.Fatalf("report: %d %s", rc, errb.String())
	}
	for _, want := range []string{"llama: stload / safe_open | 10.0×", "best pinned H2D ceiling | 0.800×", "MoE file GB/s", "verified every tensor", "generated llama", "pread"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
	if rc := Main([]string{"nonsense"}, &out, &errb); rc != 2 {
		t.Errorf("unknown command: status %d", rc)
	}
}

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
	}{
		{"5GB", 5_000_000_000}, {"5gb", 5_000_000_000}, {"5GiB", 5 << 30}, {"512MiB", 512 << 20}, {"500MB", 500_000_000},
		{"100kB", 100_000}, {"64KiB", 64 << 10}, {"2TB", 2e12}, {"1TiB", 1 << 40}, {"1.5GB", 1_500_000_000},
		{"4096", 4096}, {"16M", 16_000_000}, {"4k", 4000}, {" 7 B ", 7}, {"9223372036854775807", 1<<63 - 1},
		{"0", 0}, {"0MB", 0},
	} {
		got, err := ParseSize(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{"", "GB", "-1", "-5GB", "lots", "5XB", "5 G B", "9223372036854775807KB", "1e30GB", "NaNGB", "InfGB", "1e19", "0.5", "0.1B"} {
		if n, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) = %d, want an error", in, n)
		}
	}
}
