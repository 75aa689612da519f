package loader

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestNotSafetensors opens files that are obviously something else. Their
// first 8 bytes make a huge header length, so the kind stays what the
// reference says (HeaderTooLarge, or HeaderTooSmall for a tiny file), but
// the message says what the file looks like instead of leading with a
// 19-digit number.
func TestNotSafetensors(t *testing.T) {
	png := "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
	tests := []struct {
		name, content, kind, want string
	}{
		{"page.safetensors", "<!DOCTYPE html>\n<html><body>Not found</body></html>", "HeaderTooLarge", "not a safetensors file (looks like HTML)"},
		{"page.safetensors", "\n  <html lang=en><head></head></html>", "HeaderTooLarge", "not a safetensors file (looks like HTML)"},
		{"model.safetensors.index.json", "{\n  \"metadata\": {},\n  \"weight_map\": {}\n}\n", "HeaderTooLarge", "not a safetensors file (looks like a JSON checkpoint index: open it with checkpoint.Open)"},
		{"config.safetensors", `{"a": 1}`, "HeaderTooLarge", "not a safetensors file (looks like JSON: a checkpoint index opens with checkpoint.Open)"},
		{"x.json", "{}", "HeaderTooSmall", "not a safetensors file (looks like a JSON checkpoint index: open it with checkpoint.Open)"},
		{"image.safetensors", png, "HeaderTooLarge", "not a safetensors file (looks like a PNG image)"},
		{"pytorch_model.bin", "PK\x03\x04\x14\x00\x00\x00\x08\x00archive/data.pkl", "HeaderTooLarge", "not a safetensors file (looks like a ZIP archive, such as a PyTorch .bin or .pt file)"},
		{"model.gguf", "GGUF\x03\x00\x00\x00\x10\x00\x00\x00\x00\x00\x00\x00", "HeaderTooLarge", "not a safetensors file (looks like a GGUF file)"},
		{"model.safetensors.gz", "\x1f\x8b\x08\x00\x5c\x7a\x3b\x66\x00\x03", "HeaderTooLarge", "not a safetensors file (looks like gzip-compressed data)"},
	}
	number := regexp.MustCompile(`[0-9]{10,}`)
	dir := t.TempDir()
	for _, tt := range tests {
		path := filepath.Join(dir, tt.name)
		if err := os.WriteFile(path, []byte(tt.content), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Open(path)
		msg := strings.TrimPrefix(errString(err), path+": ")
		if Kind(err) != tt.kind || !strings.Contains(msg, tt.want) || number.MatchString(msg) {
			t.Errorf("%s: %v (kind %s), want kind %s and %q first", tt.name, err, Kind(err), tt.kind, tt.want)
		}
		// Through a reader, named by a URL with a query, the same.
		url := named{bytes.NewReader([]byte(tt.content)), "https://example.com/" + tt.name + "?download=true"}
		_, err = NewReader(url, int64(len(tt.content)))
		if Kind(err) != tt.kind || !strings.Contains(errString(err), tt.want) {
			t.Errorf("%s via a reader: %v", tt.name, err)
		}
	}
	// A safetensors file with a wrong length prefix looks like nothing:
	// no guess is made.
	var bad [16]byte
	binary.LittleEndian.PutUint64(bad[:], 1<<40)
	_, err := NewReader(bytes.NewReader(bad[:]), int64(len(bad)))
	if Kind(err) != "HeaderTooLarge" || strings.Contains(errString(err), "looks like") {
		t.Errorf("a plain bad prefix: %v", err)
	}
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}
