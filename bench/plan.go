package bench

import (
	"fmt"
	"math"

	"github.com/stload/stload/dtype"
	"github.com/stload/stload/loader"
)

// The checkpoint kinds the generator knows.
const (
	KindLlama   = "llama"   // dense bf16 decoder, Llama-3 proportions
	KindMoE     = "moe"     // ~19k small expert tensors, Qwen3-MoE layout
	KindMany    = "many"    // 10,000 small tensors, for header parsing
	KindSharded = "sharded" // llama split in shards plus an index.json
)

// llamaShape is the geometry of a Llama-shaped model.
type llamaShape struct {
	hidden, inter, kv, vocab, layers uint64
}

// roundTo rounds x to the nearest multiple of m, at least m.
func roundTo(x float64, m uint64) uint64 {
	return max(m, uint64(math.Round(x/float64(m)))*m)
}

// planLlama returns the geometry of a Llama-3-proportioned bf16 model of
// about size bytes. Real model families keep depth roughly proportional to
// width, so parameters grow as width cubed: the hidden size is 4096 scaled
// by the cube root of size/32 GB, which at 32 GB gives the Llama-3-8B
// layer (hidden 4096, MLP 14336, 8 of 32 heads for K and V) stacked 69
// deep: 624 tensors, embeddings of 1.05 GB each and MLP matrices of 117 MB,
// the file the measurement protocol asks for. The MLP is 3.5× the hidden
// size and K/V a quarter of it at every size, as in Llama 3. The
// vocabulary is Llama 3's 128,256 while the two embedding matrices take at
// most a quarter of the bytes, and shrinks below that so that small files
// are still mostly layers. The layer count fills the remaining bytes.
func planLlama(size int64) llamaShape {
	s := llamaShape{}
	s.hidden = roundTo(4096*math.Cbrt(float64(size)/32e9), 256)
	s.inter = roundTo(3.5*float64(s.hidden), 256)
	s.kv = max(64, s.hidden/4)
	s.vocab = min(128256, max(256, uint64(size)/16/s.hidden/256*256))
	embed := 2 * s.vocab * s.hidden * 2
	perLayer := 2 * (2*s.hidden*s.hidden + 2*s.kv*s.hidden + 3*s.hidden*s.inter + 2*s.hidden)
	rest := max(0, float64(size)-float64(embed)-float64(2*s.hidden))
	s.layers = max(1, uint64(math.Round(rest/float64(perLayer))))
	return s
}

// LlamaSpecs returns the tensors of a Llama-shaped bf16 model of about
// size bytes (see planLlama for the proportions), in model order:
// embeddings, then per layer the attention projections, the MLP and the
// two norms, then the final norm and the untied output head.
func LlamaSpecs(size int64) []loader.Spec {
	g := planLlama(size)
	h, bf := g.hidden, dtype.BF16
	specs := []loader.Spec{{Name: "model.embed_tokens.weight", DType: bf, Shape: []uint64{g.vocab, h}}}
	for l := range g.layers {
		p := fmt.Sprintf("model.layers.%d.", l)
		specs = append(specs,
			loader.Spec{Name: p + "self_attn.q_proj.weight", DType: bf, Shape: []uint64{h, h}},
			loader.Spec{Name: p + "self_attn.k_proj.weight", DType: bf, Shape: []uint64{g.kv, h}},
			loader.Spec{Name: p + "self_attn.v_proj.weight", DType: bf, Shape: []uint64{g.kv, h}},
			loader.Spec{Name: p + "self_attn.o_proj.weight", DType: bf, Shape: []uint64{h, h}},
			loader.Spec{Name: p + "mlp.gate_proj.weight", DType: bf, Shape: []uint64{g.inter, h}},
			loader.Spec{Name: p + "mlp.up_proj.weight", DType: bf, Shape: []uint64{g.inter, h}},
			loader.Spec{Name: p + "mlp.down_proj.weight", DType: bf, Shape: []uint64{h, g.inter}},
			loader.Spec{Name: p + "input_layernorm.weight", DType: bf, Shape: []uint64{h}},
			loader.Spec{Name: p + "post_attention_layernorm.weight", DType: bf, Shape: []uint64{h}},
		)
	}
	return append(specs,
		loader.Spec{Name: "model.norm.weight", DType: bf, Shape: []uint64{h}},
		loader.Spec{Name: "lm_head.weight", DType: bf, Shape: []uint64{g.vocab, h}},
	)
}

// MoESpecs returns the tensors of a Qwen3-MoE-shaped bf16 model of about
// size bytes with the given layers and experts per layer. Qwen3-30B-A3B
// (48 layers of 128 experts, hidden 2048, expert MLP 768) has 18,867
// tensors in 61 GB; keeping its layer and expert counts keeps the tensor
// count at every size, and the widths scale with the square root of the
// size so that a 16 GB file has experts of 0.75 MiB and the 61 GB one of
// 3 MiB, the 0.5–4 MiB range of real MoE checkpoints. The expert width is
// then solved from the bytes left after attention and embeddings.
func MoESpecs(size int64, layers, experts int) []loader.Spec {
	s := math.Sqrt(float64(size) / 61e9)
	h := roundTo(2048*s, 128)
	headDim := min(128, h/4)
	q, kv := 2*h, max(headDim, h/4)
	vocab := roundTo(151936*s, 256)
	L, E := uint64(max(1, layers)), uint64(max(1, experts))
	fixed := 2*vocab*h*2 + 2*h + L*2*(2*q*h+2*kv*h+2*headDim+2*h+E*h)
	m := uint64(64)
	if rest := float64(size) - float64(fixed); rest > 0 {
		m = roundTo(rest/float64(L*E*3*h*2), 64)
	}
	bf := dtype.BF16
	specs := []loader.Spec{{Name: "model.embed_tokens.weight", DType: bf, Shape: []uint64{vocab, h}}}
	for l := range L {
		p := fmt.Sprintf("model.layers.%d.", l)
		specs = append(specs,
			loader.Spec{Name: p + "self_attn.q_proj.weight", DType: bf, Shape: []uint64{q, h}},
			loader.Spec{Name: p + "self_attn.k_proj.weight", DType: bf, Shape: []uint64{kv, h}},
			loader.Spec{Name: p + "self_attn.v_proj.weight", DType: bf, Shape: []uint64{kv, h}},
			loader.Spec{Name: p + "self_attn.o_proj.weight", DType: bf, Shape: []uint64{h, q}},
			loader.Spec{Name: p + "self_attn.q_norm.weight", DType: bf, Shape: []uint64{headDim}},
			loader.Spec{Name: p + "self_attn.k_norm.weight", DType: bf, Shape: []uint64{headDim}},
			loader.Spec{Name: p + "input_layernorm.weight", DType: bf, Shape: []uint64{h}},
			loader.Spec{Name: p + "post_attention_layernorm.weight", DType: bf, Shape: []uint64{h}},
			loader.Spec{Name: p + "mlp.gate.weight", DType: bf, Shape: []uint64{E, h}},
		)
		for e := range E {
			x := fmt.Sprintf("%smlp.experts.%d.", p, e)
			specs = append(specs,
				loader.Spec{Name: x + "gate_proj.weight", DType: bf, Shape: []uint64{m, h}},
				loader.Spec{Name: x + "up_proj.weight", DType: bf, Shape: []uint64{m, h}},
				loader.Spec{Name: x + "down_proj.weight", DType: bf, Shape: []uint64{h, m}},
			)
		}
	}
	return append(specs,
		loader.Spec{Name: "model.norm.weight", DType: bf, Shape: []uint64{h}},
		loader.Spec{Name: "lm_head.weight", DType: bf, Shape: []uint64{vocab, h}},
	)
}

// ManySpecs returns n small bf16 tensors (4×256, 2 KiB each) named like
// the layers of a large checkpoint: a header of realistic length (names of
// 40–60 bytes, offsets of 8 digits) over little data, for timing header
// parsing rather than reading.
func ManySpecs(n int) []loader.Spec {
	parts := []string{"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
		"mlp.gate_proj", "mlp.up_proj", "mlp.down_proj", "input_layernorm", "post_attention_layernorm",
		"mlp.experts.7.w1"}
	specs := make([]loader.Spec, n)
	for i := range specs {
		specs[i] = loader.Spec{
			Name:  fmt.Sprintf("model.layers.%d.%s.weight", i/len(parts), parts[i%len(parts)]),
			DType: dtype.BF16, Shape: []uint64{4, 256},
		}
	}
	return specs
}

// specBytes returns the number of bytes of the tensor s.
func specBytes(s loader.Spec) int64 {
	n := int64(s.DType.Bits())
	for _, d := range s.Shape {
		n *= int64(d)
	}
	return (n + 7) / 8
}

// payload returns the total tensor bytes of specs.
func payload(specs []loader.Spec) int64 {
	var n int64
	for _, s := range specs {
		n += specBytes(s)
	}
	return n
}

// shard splits specs, kept in model order, into n contiguous groups of
// about equal bytes, as transformers' save_pretrained fills shards in
// state-dict order up to a maximum shard size.
func shard(specs []loader.Spec, n int) [][]loader.Spec {
	n = max(1, min(n, len(specs)))
	total := payload(specs)
	out := make([][]loader.Spec, 0, n)
	var cur []loader.Spec
	var done int64
	for i, s := range specs {
		cur = append(cur, s)
		done += specBytes(s)
		left := len(specs) - i - 1
		shardsLeft := n - len(out) - 1
		// Close a shard once it reaches its share of the bytes, as long as
		// enough tensors remain for the shards still to come.
		if shardsLeft > 0 && left >= shardsLeft && done*int64(n) >= total*int64(len(out)+1) {
			out = append(out, cur)
			cur = nil
		}
	}
	return append(out, cur)
}
