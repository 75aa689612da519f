package loader

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	nlp "github.com/nlpodyssey/safetensors"

	"github.com/stload/stload/dtype"
)

// manyTensors returns a file of n small tensors with Llama-like names, the
// shape of header a 10,000-tensor checkpoint has.
func manyTensors(tb testing.TB, n int) []byte {
	tb.Helper()
	r := rand.New(rand.NewPCG(1, 2))
	tensors := make(map[string]Data, n)
	parts := []string{"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
		"mlp.gate_proj", "mlp.up_proj", "mlp.down_proj", "input_layernorm", "post_attention_layernorm", "mlp.experts.7.w1"}
	for i := range n {
		name := fmt.Sprintf("model.layers.%d.%s.weight", i/len(parts), parts[i%len(parts)])
		b := make([]byte, 16)
		for j := range b {
			b[j] = byte(r.Uint32())
		}
		tensors[name] = Data{DType: dtype.BF16, Shape: []uint64{2, 4}, Bytes: b}
	}
	var buf bytes.Buffer
	if err := Save(&buf, tensors, map[string]string{"format": "pt"}); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// BenchmarkOpen10k parses and validates a 10,000-tensor header held in
// memory; BenchmarkOpen10kNlpodyssey does the same with the Go peer, in
// the same run, for the ratio the goals are stated in.
func BenchmarkOpen10k(b *testing.B) {
	data := manyTensors(b, 10000)
	r := bytes.NewReader(data)
	b.SetBytes(int64(len(data)) - 16*10000)
	b.ReportAllocs()
	for b.Loop() {
		f, err := NewReader(r, int64(len(data)))
		if err != nil || f.Len() != 10000 {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/10000/1000, "µs/tensor")
}

func BenchmarkOpen10kNlpodyssey(b *testing.B) {
	data := manyTensors(b, 10000)
	b.SetBytes(int64(len(data)) - 16*10000)
	b.ReportAllocs()
	for b.Loop() {
		st, err := nlp.Deserialize(data)
		if err != nil || st.Len() != 10000 {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/10000/1000, "µs/tensor")
}

// BenchmarkOpenFile10k is Open (mmap) of the same file on disk, the path
// users take; the file is in the page cache after the first iteration.
func BenchmarkOpenFile10k(b *testing.B) {
	path := filepath.Join(b.TempDir(), "many.safetensors")
	if err := os.WriteFile(path, manyTensors(b, 10000), 0o644); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		f, err := Open(path)
		if err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/10000/1000, "µs/tensor")
}
