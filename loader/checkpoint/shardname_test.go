package checkpoint

import "testing"

func TestParseShard(t *testing.T) {
	tests := []struct {
		name   string
		prefix string
		k, of  int
		ok     bool
	}{
		{"model-00001-of-00003.safetensors", "model", 1, 3, true},
		{"a-b-00012-of-00099.safetensors", "a-b", 12, 99, true},
		{"-00001-of-00002.safetensors", "", 0, 0, false}, // empty prefix
		{"model-0001-of-00003.safetensors", "", 0, 0, false},
		{"model-00001-of-0003.safetensors", "", 0, 0, false},
		{"model-00001_of-00003.safetensors", "", 0, 0, false},
		{"model-0000a-of-00003.safetensors", "", 0, 0, false},
		{"model-00001-of-00003.safetensors.tmp", "", 0, 0, false},
		{"model.safetensors", "", 0, 0, false},
		{"model-00001-of-00003.json", "", 0, 0, false},
	}
	for _, tt := range tests {
		prefix, k, of, ok := parseShard(tt.name)
		if ok != tt.ok || ok && (prefix != tt.prefix || k != tt.k || of != tt.of) {
			t.Errorf("parseShard(%q) = %q, %d, %d, %v; want %q, %d, %d, %v",
				tt.name, prefix, k, of, ok, tt.prefix, tt.k, tt.of, tt.ok)
		}
	}
}
