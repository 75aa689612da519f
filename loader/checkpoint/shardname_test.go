package checkpoint

import (
	"fmt"
	"testing"
)

func TestParseShardName(t *testing.T) {
	tests := []struct {
		name   string
		prefix string
		k, of  int
		ok     bool
	}{
		{"model-00001-of-00003.safetensors", "model", 1, 3, true},
		{"model-00003-of-00005.safetensors", "model", 3, 5, true},
		{"a-b-00012-of-00099.safetensors", "a-b", 12, 99, true},
		{"my-model-00001-of-00002.safetensors", "my-model", 1, 2, true},
		{"x-of-y-00001-of-00002.safetensors", "x-of-y", 1, 2, true},
		{"model-00001-of-00001.safetensors", "model", 1, 1, true},
		// Past 99,999 shards, "%05d" writes six digits or more.
		{"model-00001-of-100000.safetensors", "model", 1, 100000, true},
		{"model-123456-of-200000.safetensors", "model", 123456, 200000, true},
		{"model-000001-of-100000.safetensors", "", 0, 0, false}, // not as %05d writes it
		{"model-00001-of-000002.safetensors", "", 0, 0, false},
		{"model-00001-of-1000000000.safetensors", "", 0, 0, false}, // ten digits
		{"-00001-of-00002.safetensors", "", 0, 0, false},           // empty prefix
		{"00003-of-00005.safetensors", "", 0, 0, false},
		{"model-00000-of-00003.safetensors", "", 0, 0, false}, // k out of 1..of
		{"model-00004-of-00003.safetensors", "", 0, 0, false},
		{"model-00001-of-00000.safetensors", "", 0, 0, false},
		{"model-0001-of-00003.safetensors", "", 0, 0, false},
		{"model-00001-of-0003.safetensors", "", 0, 0, false},
		{"model-00001_of-00003.safetensors", "", 0, 0, false},
		{"model-0000a-of-00003.safetensors", "", 0, 0, false},
		{"model-x0003-of-00005.safetensors", "", 0, 0, false},
		{"model-+0001-of-00003.safetensors", "", 0, 0, false},
		{"model-00001-of-00003.safetensors.tmp", "", 0, 0, false},
		{"model-00003-of-00005.safetensors.index.json", "", 0, 0, false},
		{"model.safetensors", "", 0, 0, false},
		{"model-00001-of-00003.json", "", 0, 0, false},
		{".safetensors", "", 0, 0, false},
	}
	for _, tt := range tests {
		prefix, k, of, ok := ParseShardName(tt.name)
		if prefix != tt.prefix || k != tt.k || of != tt.of || ok != tt.ok {
			t.Errorf("ParseShardName(%q) = %q, %d, %d, %v; want %q, %d, %d, %v",
				tt.name, prefix, k, of, ok, tt.prefix, tt.k, tt.of, tt.ok)
		}
	}
	// What the writer names, ParseShardName reads back.
	for _, n := range []int{1, 2, 99_999, 100_000, 123_457} {
		for _, k := range []int{1, n} {
			name := fmt.Sprintf("model-%05d-of-%05d.safetensors", k, n)
			if prefix, gotK, gotN, ok := ParseShardName(name); !ok || prefix != "model" || gotK != k || gotN != n {
				t.Errorf("ParseShardName(%q) = %q, %d, %d, %v", name, prefix, gotK, gotN, ok)
			}
		}
	}
}
