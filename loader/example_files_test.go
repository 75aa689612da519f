package loader

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stload/stload/dtype"
)

// exampleFiles are the copies of the small model that the examples of
// this package and of the device packages open.
var exampleFiles = []string{
	"testdata/example.safetensors",
	"../device/testdata/example.safetensors",
	"../device/devicetest/testdata/example.safetensors",
	"../device/dense/testdata/example.safetensors",
}

// TestExampleFiles checks that the example files are what SaveFile
// writes now; go test -update rewrites them.
func TestExampleFiles(t *testing.T) {
	bias := []uint16{dtype.Float32ToBF16(0.5), dtype.Float32ToBF16(-1), dtype.Float32ToBF16(2)}
	path := filepath.Join(t.TempDir(), "example.safetensors")
	err := SaveFile(path, map[string]Data{
		"layer.weight": {DType: dtype.F32, Shape: []uint64{2, 3}, Bytes: dtype.AsBytes([]float32{1, 2, 3, 4, 5, 6})},
		"layer.bias":   {DType: dtype.BF16, Shape: []uint64{3}, Bytes: dtype.AsBytes(bias)},
	}, map[string]string{"format": "pt"})
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, golden := range exampleFiles {
		if *update {
			if err := os.WriteFile(golden, want, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		got, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%v (go test -update writes it)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is not what SaveFile writes now (go test -update rewrites it)", golden)
		}
	}
}
