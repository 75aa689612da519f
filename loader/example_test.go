package loader_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"log"
	"os"
	"path/filepath"

	"github.com/stload/stload/dtype"
	"github.com/stload/stload/loader"
)

// Open a file, list its tensors and decode a tensor's bytes to float32
// values.
func ExampleOpen() {
	f, err := loader.Open("testdata/example.safetensors")
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	fmt.Println(f.Metadata())
	for name, t := range f.Tensors() { // file-offset order
		fmt.Println(name, t.DType, t.Shape, t.Begin, t.End)
	}
	t, err := f.Tensor("layer.weight")
	if err != nil {
		log.Fatal(err)
	}
	b, err := t.Bytes() // zero-copy: a view of the mapping
	if err != nil {
		log.Fatal(err)
	}
	values := make([]float32, t.NumElements())
	if err := dtype.ToFloat32(values, b, t.DType); err != nil {
		log.Fatal(err)
	}
	fmt.Println(values)
	// Output:
	// map[format:pt]
	// layer.weight F32 [2 3] 0 24
	// layer.bias BF16 [3] 24 30
	// [1 2 3 4 5 6]
}

// Take columns 1:3 of every row, as get_slice(...)[:, 1:3] would: the zero
// Index takes a dimension whole.
func ExampleTensor_Slice() {
	f, err := loader.Open("testdata/example.safetensors")
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()

	t, err := f.Tensor("layer.weight") // [[1 2 3] [4 5 6]]
	if err != nil {
		log.Fatal(err)
	}
	s, err := t.Slice(loader.Index{}, loader.Range(1, 3))
	if err != nil {
		log.Fatal(err)
	}
	for off, n := range s.Runs() { // the runs of bytes a device loader copies
		fmt.Println("bytes", off-t.Offset(), "to", off-t.Offset()+n)
	}
	b, err := s.Bytes()
	if err != nil {
		log.Fatal(err)
	}
	values := make([]float32, len(b)/4)
	if err := dtype.ToFloat32(values, b, s.DType); err != nil {
		log.Fatal(err)
	}
	fmt.Println(s.Shape, values)
	// Output:
	// bytes 4 to 12
	// bytes 16 to 24
	// [2 2] [2 3 5 6]
}

// ParseSpec reads a slice as Python writes it, here the last row and
// every other column. The file is in memory here: NewReader reads it from
// an io.ReaderAt.
func ExampleParseSpec() {
	file, err := os.ReadFile("testdata/example.safetensors")
	if err != nil {
		log.Fatal(err)
	}
	f, err := loader.NewReader(bytes.NewReader(file), int64(len(file)))
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()

	idx, err := loader.ParseSpec("-1, ::2")
	if err != nil {
		log.Fatal(err)
	}
	t, err := f.Tensor("layer.weight") // [[1 2 3] [4 5 6]]
	if err != nil {
		log.Fatal(err)
	}
	s, err := t.Slice(idx...)
	if err != nil {
		log.Fatal(err)
	}
	b, err := s.Bytes()
	if err != nil {
		log.Fatal(err)
	}
	values := make([]float32, len(b)/4)
	if err := dtype.ToFloat32(values, b, s.DType); err != nil {
		log.Fatal(err)
	}
	fmt.Println(s.Shape, values)
	_, err = loader.ParseSpec("::0")
	fmt.Println(loader.Kind(err))
	// Output:
	// [2] [4 6]
	// InvalidSlice
}

// Mapping holds a lease on a file's mapping: the bytes stay valid while it
// is held, even if the file is closed meanwhile.
func ExampleFile_Mapping() {
	f, err := loader.Open("testdata/example.safetensors")
	if err != nil {
		log.Fatal(err)
	}
	t, err := f.Tensor("layer.bias")
	if err != nil {
		log.Fatal(err)
	}

	data, release, err := f.Mapping()
	if err != nil {
		log.Fatal(err)
	}
	f.Close() // the file is closed, the memory stays mapped
	values := make([]float32, t.NumElements())
	if err := dtype.ToFloat32(values, data[t.Offset():t.Offset()+(t.End-t.Begin)], t.DType); err != nil {
		log.Fatal(err)
	}
	fmt.Println(values)
	release() // the last lease: now it is unmapped
	_, _, err = f.Mapping()
	fmt.Println(errors.Is(err, fs.ErrClosed))
	// Output:
	// [0.5 -1 2]
	// true
}

func ExampleKind() {
	bad := []byte{0x10, 0, 0, 0, 0, 0, 0, 0, '{', '}'} // claims 16 header bytes
	_, err := loader.NewReader(bytes.NewReader(bad), int64(len(bad)))
	fmt.Println(loader.Kind(err), errors.Is(err, loader.ErrInvalidHeaderLength))
	// Output:
	// InvalidHeaderLength true
}

func ExampleNewWriter() {
	var out bytes.Buffer
	w, err := loader.NewWriter(&out, []loader.Spec{
		{Name: "b", DType: dtype.U8, Shape: []uint64{2}},
		{Name: "a", DType: dtype.I16, Shape: []uint64{1}},
	}, nil)
	if err != nil {
		log.Fatal(err)
	}
	for _, s := range w.Tensors() { // widest type first, then by name
		fmt.Println(s.Name)
	}
	w.Write([]byte{0x01, 0x00}) // a
	w.Write([]byte{0x02, 0x03}) // b
	if err := w.Close(); err != nil {
		log.Fatal(err)
	}
	fmt.Println(out.Len())
	// Output:
	// a
	// b
	// 124
}

// ExampleSaveFile saves tensors held in Go slices: dtype.AsBytes gives
// their bytes without copying them (on little-endian machines).
func ExampleSaveFile() {
	dir, err := os.MkdirTemp("", "example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "model.safetensors")

	weights := []float32{0.5, -1, 2, 4, 8, 16}
	bf16 := []uint16{dtype.Float32ToBF16(1.5), dtype.Float32ToBF16(-3)} // BF16 bits
	err = loader.SaveFile(path, map[string]loader.Data{
		"w": {DType: dtype.F32, Shape: []uint64{2, 3}, Bytes: dtype.AsBytes(weights)},
		"b": {DType: dtype.BF16, Shape: []uint64{2}, Bytes: dtype.AsBytes(bf16)},
	}, map[string]string{"format": "pt"})
	if err != nil {
		log.Fatal(err)
	}

	f, err := loader.Open(path)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	for name, t := range f.Tensors() {
		raw, err := t.Bytes()
		if err != nil {
			log.Fatal(err)
		}
		values := make([]float32, t.NumElements())
		if err := dtype.ToFloat32(values, raw, t.DType); err != nil {
			log.Fatal(err)
		}
		fmt.Println(name, t.DType, t.Shape, values)
	}
	// Output:
	// w F32 [2 3] [0.5 -1 2 4 8 16]
	// b BF16 [2] [1.5 -3]
}

// ExampleCreateFile streams a file larger than one would hold in memory:
// the header first, then each tensor's bytes in the writer's order, in
// pieces of any size. Close publishes the file atomically; closing a
// writer that lacks bytes fails, names the tensor, and saves nothing.
func ExampleCreateFile() {
	dir, err := os.MkdirTemp("", "example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "big.safetensors")

	specs := []loader.Spec{
		{Name: "embed", DType: dtype.U8, Shape: []uint64{1000, 64}},
		{Name: "head", DType: dtype.I32, Shape: []uint64{16}},
	}
	w, err := loader.CreateFile(path, specs, nil)
	if err != nil {
		log.Fatal(err)
	}
	chunk := make([]byte, 4096)     // say, read from somewhere else in turn
	for _, s := range w.Tensors() { // widest type first: head, then embed
		n := int64(s.DType.Bits() / 8)
		for _, d := range s.Shape {
			n *= int64(d)
		}
		for ; n > 0; n -= int64(len(chunk)) {
			if _, err := w.Write(chunk[:min(n, int64(len(chunk)))]); err != nil {
				log.Fatal(err)
			}
		}
		fmt.Println("wrote", s.Name)
	}
	if err := w.Close(); err != nil {
		log.Fatal(err)
	}
	f, err := loader.Open(path)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(f.Size())
	f.Close()

	// An abandoned write: nothing replaces the file.
	w, _ = loader.CreateFile(path, specs, nil)
	w.Write(make([]byte, 10))
	err = w.Close()
	var e *loader.Error
	fmt.Println(errors.As(err, &e), e.Tensor, loader.Kind(err))
	// Output:
	// wrote head
	// wrote embed
	// 64200
	// true head TensorInvalidInfo
}

// ExampleError tells errors apart: errors.Is for a sentinel or an
// operating-system error, Kind for the kind's name (what the command
// prints), errors.As for where it happened.
func ExampleError() {
	_, err := loader.Open("testdata/missing.safetensors")
	fmt.Println(errors.Is(err, fs.ErrNotExist), loader.Kind(err))

	// A header whose tensor claims more bytes than its offsets hold.
	hdr := `{"t":{"dtype":"F32","shape":[4],"data_offsets":[0,8]}}`
	file := append(binary.LittleEndian.AppendUint64(nil, uint64(len(hdr))), hdr...)
	file = append(file, make([]byte, 8)...)
	_, err = loader.NewReader(bytes.NewReader(file), int64(len(file)))
	var e *loader.Error
	if errors.As(err, &e) {
		fmt.Println(errors.Is(err, loader.ErrTensorInvalidInfo), loader.Kind(err), e.Tensor, e.Offset)
		fmt.Println(e.Detail)
	}
	// Output:
	// true IoError
	// true TensorInvalidInfo t 9
	// F32 [4] needs 16 bytes but data_offsets [0, 8] hold 8
}
