package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/stload/stload/dtype"
	"github.com/stload/stload/loader"
)

// tinyLlamaPath is the model-like file README's first command inspects.
const tinyLlamaPath = "../../testdata/tiny-llama.safetensors"

// tinyLlama builds testdata/tiny-llama.safetensors: a two-layer
// Llama-shaped model in BF16 (hidden 64, MLP 128, vocabulary 256, 4
// attention heads of 16 with 2 key/value heads), metadata {"format":"pt"}.
// The values are deterministic on every platform: integer arithmetic, one
// correctly rounded division per value, and dtype's integer-only
// float32-to-bfloat16 rounding.
func tinyLlama() []byte {
	const (
		hidden = 64
		inter  = 128
		vocab  = 256
		kv     = 32 // 2 key/value heads of 16
		layers = 2
	)
	tensors := map[string]loader.Data{}
	add := func(name string, norm bool, shape ...uint64) {
		n := uint64(1)
		for _, d := range shape {
			n *= d
		}
		h := fnv.New64a()
		h.Write([]byte(name))
		rng := splitmix64(h.Sum64())
		b := make([]byte, 2*n)
		for i := range n {
			var f float32
			if norm {
				// Near one, as a trained RMSNorm weight.
				f = float32(1000+int64(rng.next()%101)-50) / 1000
			} else {
				// A bell-shaped spread of about ±0.08 (sum of four uniforms).
				k := int64(0)
				for range 4 {
					k += int64(rng.next()%1001) - 500
				}
				f = float32(k) / 25000
			}
			binary.LittleEndian.PutUint16(b[2*i:], dtype.Float32ToBF16(f))
		}
		tensors[name] = loader.Data{DType: dtype.BF16, Shape: shape, Bytes: b}
	}
	add("model.embed_tokens.weight", false, vocab, hidden)
	for l := range layers {
		p := fmt.Sprintf("model.layers.%d.", l)
		add(p+"self_attn.q_proj.weight", false, hidden, hidden)
		add(p+"self_attn.k_proj.weight", false, kv, hidden)
		add(p+"self_attn.v_proj.weight", false, kv, hidden)
		add(p+"self_attn.o_proj.weight", false, hidden, hidden)
		add(p+"mlp.gate_proj.weight", false, inter, hidden)
		add(p+"mlp.up_proj.weight", false, inter, hidden)
		add(p+"mlp.down_proj.weight", false, hidden, inter)
		add(p+"input_layernorm.weight", true, hidden)
		add(p+"post_attention_layernorm.weight", true, hidden)
	}
	add("model.norm.weight", true, hidden)
	add("lm_head.weight", false, vocab, hidden)
	var buf bytes.Buffer
	specs := make([]loader.Spec, 0, len(tensors))
	for name, d := range tensors {
		specs = append(specs, loader.Spec{Name: name, DType: d.DType, Shape: d.Shape})
	}
	w, err := loader.NewWriter(&buf, specs, map[string]string{"format": "pt"})
	if err != nil {
		panic(err)
	}
	for _, s := range w.Tensors() {
		w.Write(tensors[s.Name].Bytes)
	}
	if err := w.Close(); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// splitmix64 is a small, fixed pseudo-random generator (Steele, Lea and
// Flood 2014), so the file never depends on math/rand's algorithms.
type splitmix64 uint64

func (s *splitmix64) next() uint64 {
	*s += 0x9e3779b97f4a7c15
	z := uint64(*s)
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// TestTinyLlama checks that the shipped file is what tinyLlama builds
// (go test -update rewrites it) and that README's command works on it.
func TestTinyLlama(t *testing.T) {
	want := tinyLlama()
	if *update {
		if err := os.WriteFile(tinyLlamaPath, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(tinyLlamaPath)
	if err != nil {
		t.Fatalf("%v (go test ./cmd/stload -run TestTinyLlama -update creates it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s differs from what tinyLlama builds (go test -update rewrites it)", tinyLlamaPath)
	}
	if n := len(got); n < 4<<10 || n > 1<<20 {
		t.Errorf("%d bytes, want a few KB to 1 MB", n)
	}

	r := stload(t, "inspect", "--wide", tinyLlamaPath)
	if r.code != 0 || r.stderr != "" {
		t.Fatal(r)
	}
	for _, s := range []string{
		"21 tensors, 106,816 parameters",
		"model.embed_tokens.weight", "model.layers.1.self_attn.k_proj.weight", "lm_head.weight",
		"model.layers.0.post_attention_layernorm.weight", "BF16   [32, 64]",
		"format: pt",
	} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("inspect output lacks %q:\n%s", s, r.stdout)
		}
	}
	if r := stload(t, "validate", tinyLlamaPath); r.code != 0 {
		t.Error(r)
	}
	// Rewriting it in canonical form changes nothing.
	out := t.TempDir() + "/out.safetensors"
	if r := stload(t, "convert", tinyLlamaPath, out); r.code != 0 {
		t.Fatal(r)
	}
	if b, _ := os.ReadFile(out); !bytes.Equal(b, got) {
		t.Error("convert changed the file")
	}
}

// named gives a reader the name loader.NewReader reports for it.
type named struct {
	io.ReaderAt
	name string
}

func (n named) Name() string { return n.name }
