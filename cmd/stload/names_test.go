package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stload/stload/dtype"
)

func TestShortName(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"model.layers.31.mlp.gate_proj.weight", 36, "model.layers.31.mlp.gate_proj.weight"},
		{"model.layers.31.mlp.gate_proj.weight", 35, "…layers.31.mlp.gate_proj.weight"},
		{"model.layers.31.mlp.gate_proj.weight", 28, "…layers.31…gate_proj.weight"},
		{"model.layers.31.mlp.gate_proj.weight", 24, "…31…gate_proj.weight"},
		{"model.layers.31.block_sparse_moe.experts.7.w1.weight", 40, "…layers.31…experts.7.w1.weight"},
		{"model.language_model.layers.27.mixture_of_experts.experts.63.down_proj.weight", 47, "…layers.27…experts.63.down_proj.weight"},
		{"model.vision_tower.vision_model.encoder.layers.26.self_attn.out_proj.weight", 47, "…encoder.layers.26.self_attn.out_proj.weight"},
		{"model.multi_modal_projector.mm_input_projection_weight", 40, "…mm_input_projection_weight"},
		// Numbers and the last component alone too long: the middle goes.
		{"a.b.c.0.1.2.3.4.5.6.7.8.9.10.11.a_very_long_last_component", 24, "…0.1.2.3.4.…st_component"},
		{"lm_head.weight", 14, "lm_head.weight"},
		{"transformer.wte.weight", 16, "…wte.weight"},
	} {
		got := shortName(tc.in, tc.n)
		if got != tc.want || utf8.RuneCountInString(got) > tc.n {
			t.Errorf("shortName(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}

// stub is a tensor of a header-only model: a name, a dtype and a shape.
type stub struct {
	name  string
	dt    dtype.DType
	shape []uint64
}

// writeSparse writes a safetensors file of the tensors, in order, whose
// data section is a hole: the header of a model of many gigabytes, in a
// file that takes no room. It returns the tensors' offsets as inspect
// --wide prints them.
func writeSparse(t *testing.T, path string, tensors []stub) []string {
	t.Helper()
	var h strings.Builder
	h.WriteByte('{')
	var off int64
	var offsets []string
	for i, s := range tensors {
		n := int64(s.dt.Size())
		for _, d := range s.shape {
			n *= int64(d)
		}
		name, _ := json.Marshal(s.name)
		shape, _ := json.Marshal(s.shape)
		if i > 0 {
			h.WriteByte(',')
		}
		fmt.Fprintf(&h, `%s:{"dtype":%q,"shape":%s,"data_offsets":[%d,%d]}`, name, s.dt, shape, off, off+n)
		offsets = append(offsets, fmt.Sprintf("[%d, %d]", off, off+n))
		off += n
	}
	h.WriteByte('}')
	for h.Len()%8 != 0 {
		h.WriteByte(' ')
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var le [8]byte
	for i, n := 0, uint64(h.Len()); i < 8; i, n = i+1, n>>8 {
		le[i] = byte(n)
	}
	if _, err := f.Write(append(le[:], h.String()...)); err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(8 + int64(h.Len()) + off); err != nil {
		t.Fatal(err)
	}
	return offsets
}

// llama3 returns the tensors of Llama 3 8B (32 layers, BF16), as
// transformers writes them.
func llama3() []stub {
	bf := func(name string, shape ...uint64) stub { return stub{name, dtype.BF16, shape} }
	ts := []stub{bf("model.embed_tokens.weight", 128256, 4096)}
	for i := range 32 {
		p := fmt.Sprintf("model.layers.%d.", i)
		ts = append(ts, bf(p+"input_layernorm.weight", 4096),
			bf(p+"mlp.down_proj.weight", 4096, 14336), bf(p+"mlp.gate_proj.weight", 14336, 4096), bf(p+"mlp.up_proj.weight", 14336, 4096),
			bf(p+"post_attention_layernorm.weight", 4096),
			bf(p+"self_attn.k_proj.weight", 1024, 4096), bf(p+"self_attn.o_proj.weight", 4096, 4096),
			bf(p+"self_attn.q_proj.weight", 4096, 4096), bf(p+"self_attn.v_proj.weight", 1024, 4096))
	}
	return append(ts, bf("model.norm.weight", 4096), bf("lm_head.weight", 128256, 4096))
}

// mixtral returns the tensors of Mixtral 8x7B (32 layers of 8 experts).
func mixtral() []stub {
	bf := func(name string, shape ...uint64) stub { return stub{name, dtype.BF16, shape} }
	ts := []stub{bf("model.embed_tokens.weight", 32000, 4096)}
	for i := range 32 {
		p := fmt.Sprintf("model.layers.%d.", i)
		ts = append(ts, bf(p+"block_sparse_moe.gate.weight", 8, 4096))
		for e := range 8 {
			q := fmt.Sprintf("%sblock_sparse_moe.experts.%d.", p, e)
			ts = append(ts, bf(q+"w1.weight", 14336, 4096), bf(q+"w2.weight", 4096, 14336), bf(q+"w3.weight", 14336, 4096))
		}
		ts = append(ts, bf(p+"input_layernorm.weight", 4096), bf(p+"post_attention_layernorm.weight", 4096),
			bf(p+"self_attn.k_proj.weight", 1024, 4096), bf(p+"self_attn.o_proj.weight", 4096, 4096),
			bf(p+"self_attn.q_proj.weight", 4096, 4096), bf(p+"self_attn.v_proj.weight", 1024, 4096))
	}
	return append(ts, bf("model.norm.weight", 4096), bf("lm_head.weight", 32000, 4096))
}

// vlm returns the tensors of a vision-language model in the style of
// Gemma 3 (a vision tower and a language model under one "model.").
func vlm() []stub {
	bf := func(name string, shape ...uint64) stub { return stub{name, dtype.BF16, shape} }
	ts := []stub{bf("model.language_model.embed_tokens.weight", 262208, 5376),
		bf("model.multi_modal_projector.mm_input_projection_weight", 1152, 5376)}
	for i := range 62 {
		p := fmt.Sprintf("model.language_model.layers.%d.", i)
		ts = append(ts, bf(p+"input_layernorm.weight", 5376), bf(p+"post_feedforward_layernorm.weight", 5376),
			bf(p+"pre_feedforward_layernorm.weight", 5376), bf(p+"mlp.gate_proj.weight", 21504, 5376),
			bf(p+"self_attn.q_proj.weight", 4096, 5376), bf(p+"self_attn.k_norm.weight", 128))
	}
	for i := range 27 {
		p := fmt.Sprintf("model.vision_tower.vision_model.encoder.layers.%d.", i)
		ts = append(ts, bf(p+"layer_norm1.weight", 1152), bf(p+"mlp.fc1.weight", 4304, 1152),
			bf(p+"self_attn.out_proj.weight", 1152, 1152), bf(p+"self_attn.q_proj.weight", 1152, 1152))
	}
	return append(ts, bf("model.vision_tower.vision_model.post_layernorm.weight", 1152))
}

// TestInspectRealModels inspects the headers of real models, whose data
// offsets run to tens of gigabytes (sparse files): every line of the
// tables fits 80 columns, no two names read the same, and a shortened
// name keeps its numbers (layer, expert) and its last component; Llama 3
// 8B's names fit whole. --wide shows every name whole, with its offsets.
func TestInspectRealModels(t *testing.T) {
	dir := t.TempDir()
	long := strings.Repeat("x", 40)
	for _, tc := range []struct {
		name    string
		tensors []stub
		fits    bool            // every name shown whole
		whole   map[string]bool // names shown whole, over 80 columns, as they would read the same shortened
	}{
		{"llama-3-8b", llama3(), true, nil},
		{"mixtral-8x7b", mixtral(), false, nil},
		{"vlm", vlm(), false, nil},
		{"alike", []stub{
			{"model.a" + long + ".layers.0.mlp.gate_proj.weight", dtype.F32, []uint64{1 << 28}},
			{"model.b" + long + ".layers.0.mlp.gate_proj.weight", dtype.F32, []uint64{1 << 28}},
			{"model.c" + long + ".layers.1.mlp.gate_proj.weight", dtype.F32, []uint64{1 << 28}},
		}, false, map[string]bool{"model.a" + long + ".layers.0.mlp.gate_proj.weight": true, "model.b" + long + ".layers.0.mlp.gate_proj.weight": true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name+".safetensors")
			offsets := writeSparse(t, path, tc.tensors)
			r := stload(t, "inspect", path)
			if r.code != 0 || r.stderr != "" {
				t.Fatal(r)
			}
			lines := tableLines(r.stdout, "NAME")[1:]
			if len(lines) != len(tc.tensors) {
				t.Fatalf("%d rows for %d tensors", len(lines), len(tc.tensors))
			}
			seen := map[string]bool{}
			for k, line := range lines {
				full := tc.tensors[k].name
				shown, _, _ := strings.Cut(line, "  ")
				if n := utf8.RuneCountInString(line); n > screenWidth && !tc.whole[full] {
					t.Errorf("a line of %d columns: %q", n, line)
				}
				if seen[shown] {
					t.Errorf("%q shown twice", shown)
				}
				seen[shown] = true
				checkShortened(t, shown, full, tc.fits || tc.whole[full])
			}
			checkWide(t, path, tc.tensors, offsets)
		})
	}
}

// checkShortened checks that shown, full's name in a table, is full when
// whole is set, and else has the same numbers and last component.
func checkShortened(t *testing.T, shown, full string, whole bool) {
	t.Helper()
	numbers := func(s string) string {
		var ns []string
		for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == '.' || r == '…' }) {
			if isNumber(f) {
				ns = append(ns, f)
			}
		}
		return strings.Join(ns, ",")
	}
	last := full[strings.LastIndexByte(full, '.')+1:]
	switch {
	case whole && shown != full:
		t.Errorf("%q shown as %q", full, shown)
	case !strings.HasSuffix(shown, last) || numbers(shown) != numbers(full):
		t.Errorf("%q shown as %q: numbers or last component lost", full, shown)
	}
}

// checkWide checks that inspect --wide shows every name whole with its
// offsets.
func checkWide(t *testing.T, path string, tensors []stub, offsets []string) {
	t.Helper()
	r := stload(t, "inspect", "--wide", path)
	lines := tableLines(r.stdout, "NAME")
	if r.code != 0 || len(lines) != len(tensors)+1 || !strings.HasSuffix(lines[0], "OFFSETS") {
		t.Fatalf("--wide: %v", r)
	}
	for k, line := range lines[1:] {
		if shown, _, _ := strings.Cut(line, "  "); shown != tensors[k].name || !strings.HasSuffix(line, "  "+offsets[k]) {
			t.Errorf("--wide: %q for %q %s", line, tensors[k].name, offsets[k])
		}
	}
}
