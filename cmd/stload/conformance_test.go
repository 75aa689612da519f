package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// verdict is the reference's judgement of a file (see the conformance
// README), and the shape of inspect --json --sha256's output.
type verdict struct {
	OK         bool            `json:"ok"`
	Kind       string          `json:"kind"`
	Error      string          `json:"error"`
	HeaderSize int64           `json:"header_size"`
	Metadata   json.RawMessage `json:"metadata"` // raw, to tell null from {}
	Tensors    []struct {
		Name        string   `json:"name"`
		DType       string   `json:"dtype"`
		Shape       []uint64 `json:"shape"`
		DataOffsets [2]int64 `json:"data_offsets"`
		SHA256      string   `json:"sha256"`
	} `json:"tensors"`
}

// stricter lists the files the reference accepts and stload rejects on
// purpose (unless --lenient), with the kind stload reports.
var stricter = map[string]string{
	"dup_tensor_identical.safetensors":    "DuplicateKey",
	"dup_tensor_last_wins.safetensors":    "DuplicateKey",
	"dup_key_inside_metadata.safetensors": "DuplicateKey",
	"entry_as_array.safetensors":          "EntryNotObject",
}

func conformanceFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	for _, dir := range []string{"valid", "invalid"} {
		m, err := filepath.Glob(filepath.Join(conformance, dir, "*.safetensors"))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) < 138 {
		t.Fatalf("found %d conformance files, want 138", len(files))
	}
	return files
}

func readVerdict(t *testing.T, path string) verdict {
	t.Helper()
	b, err := os.ReadFile(strings.TrimSuffix(path, ".safetensors") + ".json")
	if err != nil {
		t.Fatal(err)
	}
	var v verdict
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestInspectConformance runs inspect --json --sha256 on every
// conformance file and compares its output with the reference's verdict.
func TestInspectConformance(t *testing.T) {
	for _, path := range conformanceFiles(t) {
		base := filepath.Base(path)
		t.Run(filepath.Base(filepath.Dir(path))+"/"+base, func(t *testing.T) {
			want := readVerdict(t, path)
			for _, lenient := range []bool{false, true} {
				args := []string{"inspect", "--json", "--sha256", path}
				w := want
				if lenient {
					args = append(args, "--lenient")
				} else if k, ok := stricter[base]; ok {
					w = verdict{OK: false, Kind: k}
				}
				checkInspect(t, stload(t, args...), w)
			}
		})
	}
}

func checkInspect(t *testing.T, r result, want verdict) {
	t.Helper()
	var got verdict
	decodeLine(t, r.stdout, &got)
	if r.stderr != "" {
		t.Errorf("stderr: %s", r.stderr)
	}
	if !want.OK {
		if r.code != 1 || got.OK || got.Kind != want.Kind || got.Error == "" {
			t.Fatalf("got %v, want ok:false kind %s", r, want.Kind)
		}
		if keys := jsonKeys(t, []byte(r.stdout)); !slices.Equal(keys, []string{"ok", "kind", "error"}) {
			t.Errorf("keys %v", keys)
		}
		return
	}
	if r.code != 0 || !got.OK {
		t.Fatalf("got %v, want ok:true", r)
	}
	if keys := jsonKeys(t, []byte(r.stdout)); !slices.Equal(keys, []string{"ok", "header_size", "metadata", "tensors"}) {
		t.Errorf("keys %v", keys)
	}
	if got.HeaderSize != want.HeaderSize {
		t.Errorf("header_size %d, want %d", got.HeaderSize, want.HeaderSize)
	}
	if !sameJSON(t, got.Metadata, want.Metadata) {
		t.Errorf("metadata %s, want %s", got.Metadata, want.Metadata)
	}
	if !reflect.DeepEqual(got.Tensors, want.Tensors) {
		t.Errorf("tensors differ:\n got %+v\nwant %+v", got.Tensors, want.Tensors)
	}
	// Tensor keys in the documented order; a scalar's shape is [], not null.
	var raw struct{ Tensors []json.RawMessage }
	json.Unmarshal([]byte(r.stdout), &raw)
	for _, tj := range raw.Tensors {
		if keys := jsonKeys(t, tj); !slices.Equal(keys, []string{"name", "dtype", "shape", "data_offsets", "sha256"}) {
			t.Fatalf("tensor keys %v", keys)
		}
		if strings.Contains(string(tj), `"shape":null`) {
			t.Fatalf("null shape: %s", tj)
		}
	}
}

// sameJSON compares two JSON values semantically, null and {} apart.
func sameJSON(t *testing.T, a, b json.RawMessage) bool {
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatal(err)
	}
	return reflect.DeepEqual(x, y)
}

type sliceCase struct {
	File    string   `json:"file"`
	Tensor  string   `json:"tensor"`
	Spec    string   `json:"spec"`
	Shape   []uint64 `json:"shape"`
	SHA256  string   `json:"sha256"`
	NBytes  int64    `json:"nbytes"`
	Kind    string   `json:"kind"`
	Bug     string   `json:"reference_bug"`
	Correct *struct {
		Shape  []uint64 `json:"shape"`
		SHA256 string   `json:"sha256"`
		NBytes int64    `json:"nbytes"`
	} `json:"correct"`
}

// TestDumpSliceConformance runs every slices.jsonl case through dump
// --slice SPEC --sha256 and, for the good ones, through a raw dump too.
// Where the reference is wrong the test expects the correct result, or an
// InvalidSlice error where the reference panics.
func TestDumpSliceConformance(t *testing.T) {
	lines := readJSONL(t, filepath.Join(conformance, "slices.jsonl"))
	if len(lines) < 48 {
		t.Fatalf("%d slice cases, want 48", len(lines))
	}
	for _, l := range lines {
		var c sliceCase
		if err := json.Unmarshal(l, &c); err != nil {
			t.Fatal(err)
		}
		if c.Correct != nil {
			c.Shape, c.SHA256, c.NBytes = c.Correct.Shape, c.Correct.SHA256, c.Correct.NBytes
		}
		if c.Kind == "Panic" {
			c.Kind = "InvalidSlice"
		}
		t.Run(c.File+"/"+c.Tensor+"/"+c.Spec, func(t *testing.T) {
			path := filepath.Join(conformance, c.File)
			r := stload(t, "dump", "--slice", c.Spec, "--sha256", path, c.Tensor)
			var got struct {
				OK     bool     `json:"ok"`
				Kind   string   `json:"kind"`
				Shape  []uint64 `json:"shape"`
				NBytes int64    `json:"nbytes"`
				SHA256 string   `json:"sha256"`
			}
			decodeLine(t, r.stdout, &got)
			if c.Kind != "" {
				if r.code != 1 || got.OK || got.Kind != c.Kind {
					t.Fatalf("got %v, want kind %s", r, c.Kind)
				}
				return
			}
			if r.code != 0 || !got.OK {
				t.Fatalf("got %v", r)
			}
			if keys := jsonKeys(t, []byte(r.stdout)); !slices.Equal(keys, []string{"ok", "shape", "nbytes", "sha256"}) {
				t.Errorf("keys %v", keys)
			}
			if !slices.Equal(got.Shape, c.Shape) || got.Shape == nil || got.NBytes != c.NBytes || got.SHA256 != c.SHA256 {
				t.Errorf("got %s, want shape %v nbytes %d sha256 %s", r.stdout, c.Shape, c.NBytes, c.SHA256)
			}
			raw := stload(t, "dump", "--raw", "--slice", c.Spec, path, c.Tensor)
			if raw.code != 0 || int64(len(raw.stdout)) != c.NBytes || sum([]byte(raw.stdout)) != c.SHA256 {
				t.Errorf("raw dump: exit %d, %d bytes, sha256 %s", raw.code, len(raw.stdout), sum([]byte(raw.stdout)))
			}
		})
	}
}
