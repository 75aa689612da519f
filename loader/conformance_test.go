package loader

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const conformance = "../testdata/conformance"

// verdict is the reference's judgement of a file (see the conformance
// README).
type verdict struct {
	OK         bool              `json:"ok"`
	Kind       string            `json:"kind"`
	HeaderSize int64             `json:"header_size"`
	Metadata   map[string]string `json:"metadata"`
	Tensors    []struct {
		Name        string   `json:"name"`
		DType       string   `json:"dtype"`
		Shape       []uint64 `json:"shape"`
		DataOffsets [2]int64 `json:"data_offsets"`
		SHA256      string   `json:"sha256"`
	} `json:"tensors"`
	Nondeterministic []string `json:"nondeterministic_error"`
}

// stricter lists the files the reference accepts and stload rejects on
// purpose, with the kind stload reports.
var stricter = map[string]string{
	"dup_tensor_identical.safetensors":    "DuplicateKey",
	"dup_tensor_last_wins.safetensors":    "DuplicateKey",
	"dup_key_inside_metadata.safetensors": "DuplicateKey",
	"entry_as_array.safetensors":          "EntryNotObject",
}

type caseLine struct {
	File         string `json:"file"`
	Reference    string `json:"reference"`
	Kind         string `json:"kind"`
	Lax          bool   `json:"lax"`
	MetadataKeys int    `json:"metadata_keys"`
}

func readCases(t *testing.T, dir string) []caseLine {
	t.Helper()
	var out []caseLine
	for _, l := range readJSONL(t, filepath.Join(conformance, dir, "cases.jsonl")) {
		var c caseLine
		if err := json.Unmarshal(l, &c); err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		t.Fatalf("no cases in %s", dir)
	}
	return out
}

func readJSONL(t *testing.T, path string) [][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines [][]byte
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) > 0 {
			lines = append(lines, bytes.Clone(sc.Bytes()))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
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

// TestConformance opens every conformance file through both byte sources
// and compares the result with the reference's verdict.
func TestConformance(t *testing.T) {
	for _, dir := range []string{"valid", "invalid"} {
		for _, c := range readCases(t, dir) {
			path := filepath.Join(conformance, dir, c.File)
			want := readVerdict(t, path)
			t.Run(dir+"/"+c.File, func(t *testing.T) {
				for _, mode := range openModes {
					for _, lenient := range []bool{false, true} {
						var opts []Option
						wantKind := want.Kind
						wantOK := want.OK
						if lenient {
							opts = append(opts, WithLenient())
						} else if k, ok := stricter[c.File]; ok {
							wantOK, wantKind = false, k
						}
						f, err := mode.open(t, path, opts...)
						checkVerdict(t, mode.name, f, err, wantOK, wantKind, want)
						if f != nil {
							f.Close()
						}
					}
				}
			})
		}
	}
}

func checkVerdict(t *testing.T, mode string, f *File, err error, wantOK bool, wantKind string, want verdict) {
	t.Helper()
	if !wantOK {
		if err == nil {
			t.Fatalf("%s: accepted, want %s", mode, wantKind)
		}
		if got := Kind(err); got != wantKind {
			t.Fatalf("%s: kind %s (%v), want %s", mode, got, err, wantKind)
		}
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("%s: error %T is not *Error", mode, err)
		}
		return
	}
	if err != nil {
		t.Fatalf("%s: %v, want accepted", mode, err)
	}
	if f.HeaderSize() != want.HeaderSize {
		t.Errorf("%s: header size %d, want %d", mode, f.HeaderSize(), want.HeaderSize)
	}
	if got := f.Metadata(); !reflect.DeepEqual(got, want.Metadata) || (got == nil) != (want.Metadata == nil) {
		t.Errorf("%s: metadata %#v, want %#v", mode, got, want.Metadata)
	}
	i := 0
	for name, info := range f.Tensors() {
		if i >= len(want.Tensors) {
			t.Fatalf("%s: more tensors than the reference", mode)
		}
		w := want.Tensors[i]
		i++
		if name != w.Name || info.DType.String() != w.DType || !reflect.DeepEqual(info.Shape, w.Shape) ||
			info.Begin != w.DataOffsets[0] || info.End != w.DataOffsets[1] {
			t.Errorf("%s: tensor %q %v %v [%d %d], want %q %s %v %v", mode, name, info.DType, info.Shape, info.Begin, info.End, w.Name, w.DType, w.Shape, w.DataOffsets)
		}
		if got := sum(tensorBytes(t, f, name)); got != w.SHA256 {
			t.Errorf("%s: tensor %q sha256 %s, want %s", mode, name, got, w.SHA256)
		}
	}
	if i != len(want.Tensors) {
		t.Errorf("%s: %d tensors, want %d", mode, i, len(want.Tensors))
	}
}

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// tensorBytes returns the bytes of f's tensor name, failing the test if it
// cannot.
func tensorBytes(t *testing.T, f *File, name string) []byte {
	t.Helper()
	tensor, err := f.Tensor(name)
	if err != nil {
		t.Fatal(err)
	}
	b, err := tensor.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// openModes are the two byte sources a File can read through.
var openModes = []struct {
	name string
	open func(t *testing.T, path string, opts ...Option) (*File, error)
}{
	{"mmap", func(t *testing.T, path string, opts ...Option) (*File, error) { return Open(path, opts...) }},
	{"readerat", func(t *testing.T, path string, opts ...Option) (*File, error) {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return NewReader(bytes.NewReader(b), int64(len(b)), opts...)
	}},
}

type sliceLine struct {
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

// TestConformanceSlices runs every slicing case; where the reference is
// wrong the test expects the correct result, or an InvalidSlice error where
// the reference panics.
func TestConformanceSlices(t *testing.T) {
	for _, l := range readJSONL(t, filepath.Join(conformance, "slices.jsonl")) {
		var c sliceLine
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
			for _, mode := range openModes {
				f, err := mode.open(t, filepath.Join(conformance, c.File))
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				idx, err := ParseSpec(c.Spec)
				if err != nil {
					t.Fatal(err)
				}
				s, err := sliceOf(f, c.Tensor, idx...)
				if c.Kind != "" {
					if Kind(err) != c.Kind {
						t.Fatalf("%s: got %v (kind %q), want kind %s", mode.name, err, Kind(err), c.Kind)
					}
					continue
				}
				if err != nil {
					t.Fatalf("%s: %v", mode.name, err)
				}
				b, err := s.Bytes()
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(s.Shape, c.Shape) || s.NBytes != c.NBytes || int64(len(b)) != c.NBytes || sum(b) != c.SHA256 {
					t.Errorf("%s: shape %v nbytes %d sha %s, want %v %d %s", mode.name, s.Shape, len(b), sum(b), c.Shape, c.NBytes, c.SHA256)
				}
			}
		})
	}
}

// TestRewriteIdentical saves every reference-written file's tensors again
// and expects the same bytes (metadata with several keys is excluded: the
// reference writes those in hash order).
func TestRewriteIdentical(t *testing.T) {
	for _, c := range readCases(t, "valid") {
		if c.MetadataKeys > 1 {
			continue
		}
		t.Run(c.File, func(t *testing.T) {
			path := filepath.Join(conformance, "valid", c.File)
			orig, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			f, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			var buf bytes.Buffer
			if err := save(&buf, snapshotViews(t, f), f.Metadata()); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(buf.Bytes(), orig) {
				t.Errorf("rewrite differs:\n got %q\nwant %q", head(buf.Bytes()), head(orig))
			}
		})
	}
}

func head(b []byte) []byte { return b[:min(len(b), 300)] }
