package loader

import (
	"bytes"
	"errors"
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
	if err := save(&buf, tensors, map[string]string{"format": "pt"}); err != nil {
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
		if err != nil || count(f) != 10000 {
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

// bigFile writes a file of about 1 GiB of random bytes in 64 tensors once
// per benchmark and returns its path and tensors.
func bigFile(b *testing.B) (string, map[string]Data) {
	b.Helper()
	r := rand.New(rand.NewPCG(3, 4))
	tensors := map[string]Data{}
	for i := range 64 {
		buf := make([]byte, 16<<20)
		for j := 0; j < len(buf); j += 8 {
			v := r.Uint64()
			for k := range 8 {
				buf[j+k] = byte(v >> (8 * k))
			}
		}
		tensors[fmt.Sprintf("layers.%d.weight", i)] = Data{DType: dtype.BF16, Shape: []uint64{4096, 2048}, Bytes: buf}
	}
	path := filepath.Join(b.TempDir(), "big.safetensors")
	if err := SaveFile(path, tensors, nil); err != nil {
		b.Fatal(err)
	}
	return path, tensors
}

// BenchmarkReadAll reads every tensor of a page-cached 1 GiB file into one
// reused buffer, through the mapping and through pread;
// BenchmarkCopy1GiB is copy() of the same bytes, the memory-bandwidth
// ceiling measured the same way. The buffer is touched before timing: on
// a VM that hands freed memory back to its host, a fresh page costs more
// than reading it.
func BenchmarkReadAll(b *testing.B) {
	path, _ := bigFile(b)
	for _, mode := range []struct {
		name string
		opts []Option
	}{{"mmap", nil}, {"pread", []Option{WithPread()}}} {
		b.Run(mode.name, func(b *testing.B) {
			f, err := Open(path, mode.opts...)
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			buf := make([]byte, 16<<20)
			for i := range buf {
				buf[i] = 1
			}
			b.SetBytes(f.Size() - dataOffset(f))
			for b.Loop() {
				for _, t := range f.Tensors() {
					if _, err := f.ReadAt(buf[:(t.End-t.Begin)], t.Offset()); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

func BenchmarkCopy1GiB(b *testing.B) {
	src := make([]byte, 1<<30)
	dst := make([]byte, 16<<20)
	for i := range src {
		src[i] = byte(i)
	}
	for i := range dst {
		dst[i] = 1
	}
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		for off := 0; off < len(src); off += len(dst) {
			copy(dst, src[off:])
		}
	}
}

// BenchmarkSave writes the 1 GiB of tensors with NewWriter to a file that is
// truncated and rewritten each iteration (no fsync: the page cache is what
// is measured; SaveFile adds fsync and rename).
func BenchmarkSave(b *testing.B) {
	_, tensors := bigFile(b)
	out, err := os.Create(filepath.Join(b.TempDir(), "out.safetensors"))
	if err != nil {
		b.Fatal(err)
	}
	defer out.Close()
	var n int64
	for _, d := range tensors {
		n += int64(len(d.Bytes))
	}
	b.SetBytes(n)
	for b.Loop() {
		if _, err := out.Seek(0, 0); err != nil {
			b.Fatal(err)
		}
		if err := save(out, tensors, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFileWriter writes the 1 GiB of tensors from memory through a
// Writer from CreateFile, as SaveFile does, less the fsync and rename of
// Close: the write is abandoned instead.
func BenchmarkFileWriter(b *testing.B) {
	_, tensors := bigFile(b)
	dir := b.TempDir()
	var n int64
	for _, d := range tensors {
		n += int64(len(d.Bytes))
	}
	b.SetBytes(n)
	for b.Loop() {
		fw, err := CreateFile(filepath.Join(dir, "out.safetensors"), specsOf(tensors), nil)
		if err != nil {
			b.Fatal(err)
		}
		if err := fw.writeData(tensors); err != nil {
			b.Fatal(err)
		}
		fw.err = errors.New("abandoned")
		fw.Close()
	}
}
