package loader_test

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"log"
	"os"
	"path/filepath"

	"github.com/stload/stload/dtype"
	"github.com/stload/stload/loader"
)

// writeExample saves a small file and returns its path.
func writeExample() string {
	dir, err := os.MkdirTemp("", "stload-example")
	if err != nil {
		log.Fatal(err)
	}
	path := filepath.Join(dir, "model.safetensors")
	weights := make([]byte, 2*3*4) // F32 [2,3]: 0..5
	for i := range 6 {
		weights[4*i+2], weights[4*i+3] = []byte{0x00, 0x80, 0x00, 0x40, 0x80, 0xa0}[i], 0x40
	}
	err = loader.SaveFile(path, map[string]loader.Data{
		"layer.weight": {DType: dtype.F32, Shape: []uint64{2, 3}, Bytes: weights},
		"layer.bias":   {DType: dtype.U8, Shape: []uint64{3}, Bytes: []byte{7, 8, 9}},
	}, map[string]string{"format": "pt"})
	if err != nil {
		log.Fatal(err)
	}
	return path
}

func ExampleOpen() {
	path := writeExample()
	defer os.RemoveAll(filepath.Dir(path))

	f, err := loader.Open(path)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	fmt.Println(f.Metadata())
	for name, t := range f.Tensors() { // file-offset order
		fmt.Println(name, t.DType, t.Shape, t.Begin, t.End)
	}
	bias, err := f.Tensor("layer.bias")
	if err != nil {
		log.Fatal(err)
	}
	b, _ := bias.Bytes() // zero-copy: a view of the mapping
	fmt.Println(b)
	// Output:
	// map[format:pt]
	// layer.weight F32 [2 3] 0 24
	// layer.bias U8 [3] 24 27
	// [7 8 9]
}

func ExampleTensor_Slice() {
	path := writeExample()
	defer os.RemoveAll(filepath.Dir(path))
	f, err := loader.Open(path)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()

	// Columns 1:3 of every row, as get_slice(...)[:, 1:3] would: the zero
	// Index takes a dimension whole.
	t, err := f.Tensor("layer.weight")
	if err != nil {
		log.Fatal(err)
	}
	s, err := t.Slice(loader.Index{}, loader.Range(1, 3))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(s.Shape, s.NBytes)
	for off, n := range s.Runs() { // what a device loader copies
		fmt.Println(off-t.Offset(), n)
	}
	// Output:
	// [2 2] 16
	// 4 8
	// 16 8
}

func ExampleParseSpec() {
	path := writeExample()
	defer os.RemoveAll(filepath.Dir(path))
	f, err := loader.Open(path)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()

	idx, err := loader.ParseSpec("-1, ::2") // last row, every other column
	if err != nil {
		log.Fatal(err)
	}
	t, _ := f.Tensor("layer.weight")
	s, err := t.Slice(idx...)
	if err != nil {
		log.Fatal(err)
	}
	b, _ := s.Bytes()
	fmt.Println(s.Shape, b)
	_, err = loader.ParseSpec("::0")
	fmt.Println(loader.Kind(err))
	// Output:
	// [2] [0 0 64 64 0 0 160 64]
	// InvalidSlice
}

// ExampleFile_Mapping holds a lease on a file's mapping: the bytes stay
// valid while it is held, even if the file is closed meanwhile.
func ExampleFile_Mapping() {
	path := writeExample()
	defer os.RemoveAll(filepath.Dir(path))
	f, err := loader.Open(path)
	if err != nil {
		log.Fatal(err)
	}
	data, release, err := f.Mapping()
	if err != nil {
		log.Fatal(err)
	}
	f.Close() // the file is closed, the memory stays mapped
	t := 8 + f.HeaderSize() + 24
	fmt.Println(data != nil, data[t:t+3])
	release() // the last lease: now it is unmapped
	_, _, err = f.Mapping()
	fmt.Println(errors.Is(err, fs.ErrClosed))
	// Output:
	// true [7 8 9]
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
