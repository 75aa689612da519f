package main

import (
	"bytes"
	"encoding/json"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stload/stload/dtype"
	"github.com/stload/stload/loader"
)

// TestDumpRaw checks that a raw dump (the default when stdout is not a
// terminal) writes exactly each tensor's bytes.
func TestDumpRaw(t *testing.T) {
	for _, name := range []string{"all_dtypes", "scalars", "empty_tensors", "f6_shapes", "big_tensor", "names_special"} {
		path := filepath.Join(conformance, "valid", name+".safetensors")
		f, err := loader.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		for tensor := range f.Tensors() {
			tt, _ := f.Tensor(tensor)
			want, err := tt.Bytes()
			if err != nil {
				t.Fatal(err)
			}
			for _, args := range [][]string{{"dump", path, tensor}, {"dump", "--raw", path, tensor}, {"dump", "--slice", "", "--", path, tensor}} {
				r := stload(t, args...)
				if r.code != 0 || r.stderr != "" || !bytes.Equal([]byte(r.stdout), want) {
					t.Errorf("%q: exit %d, %d bytes (want %d), stderr %q", args, r.code, len(r.stdout), len(want), r.stderr)
				}
			}
		}
		f.Close()
	}
}

// TestDumpValues compares readable and JSON dumps of a selection of
// tensors with the golden files testdata/dump_values.golden and
// testdata/dump_json.golden.
func TestDumpValues(t *testing.T) {
	v := func(name string) string { return filepath.Join(conformance, "valid", name+".safetensors") }
	cases := []struct {
		file, tensor, spec string
	}{
		{v("all_dtypes"), "t_f32", ""},
		{v("all_dtypes"), "t_f64", ""},
		{v("all_dtypes"), "t_bf16", ""},
		{v("all_dtypes"), "t_f16", ""},
		{v("all_dtypes"), "t_c64", ""},
		{v("all_dtypes"), "t_bool", ""},
		{v("all_dtypes"), "t_u8", ""},
		{v("all_dtypes"), "t_i16", ""},
		{v("all_dtypes"), "t_u64", ""},
		{v("all_dtypes"), "t_i64", ":,1:3"},
		{v("all_dtypes"), "t_f8_e4m3", ""},
		{v("all_dtypes"), "t_f8_e5m2", ""},
		{v("all_dtypes"), "t_f8_e8m0", ""},
		{v("all_dtypes"), "t_f8_e4m3fnuz", ""},
		{v("all_dtypes"), "t_f8_e5m2fnuz", ""},
		{v("all_dtypes"), "t_f4", ""},
		{v("all_dtypes"), "t_f6_e2m3", "1"},
		{v("all_dtypes"), "t_f6_e3m2", ""},
		{v("float_specials"), "f64", ""},
		{v("float_specials"), "f32", ""},
		{v("float_specials"), "bf16", ""},
		{v("float_specials"), "c64", ""},
		{v("int_limits"), "i64", ""},
		{v("int_limits"), "u64", ""},
		{v("bool_values"), "odd_bytes", ""},
		{v("scalars"), "s_f32", ""},
		{v("scalars"), "s_c64", ""},
		{v("scalars"), "s_bool", ""},
		{v("empty_tensors"), "empty_a", ""},
		{v("empty_tensors"), "empty_d", ""},
		{v("all_dtypes"), "t_f32", "0:0"},
		{v("high_rank"), "r8", ""},
		{v("high_rank"), "r16", ""},
		{v("big_tensor"), "big", ""},
		{v("big_tensor"), "big", "::100,1000:"},
		{v("shapes_1d"), "v1000", ""},
		{tinyLlamaPath, "model.norm.weight", ""},
		{tinyLlamaPath, "model.layers.0.self_attn.k_proj.weight", ""},
	}
	var text, js strings.Builder
	for _, c := range cases {
		args := []string{"dump", "--slice", c.spec, c.file, c.tensor}
		header := "$ stload " + strings.Join([]string{"dump", "--slice", "'" + c.spec + "'", filepath.Base(c.file), c.tensor}, " ")
		r := stload(t, append(args, "--values")...)
		if r.code != 0 || r.stderr != "" {
			t.Errorf("%q: %v", args, r)
			continue
		}
		text.WriteString(header + " --values\n" + r.stdout + "\n")
		if c.tensor == "big" {
			continue // 10 MB of JSON: slow under -race, and TestDumpJSONValues covers it
		}
		r = stload(t, append(args, "--json")...)
		if r.code != 0 || r.stderr != "" {
			t.Errorf("%q --json: %v", args, r)
			continue
		}
		var out struct {
			OK     bool     `json:"ok"`
			DType  string   `json:"dtype"`
			Shape  []uint64 `json:"shape"`
			Values any      `json:"values"`
		}
		decodeLine(t, r.stdout, &out)
		if !out.OK || out.Shape == nil {
			t.Errorf("%q --json: %s", args, r.stdout)
		}
		if len(r.stdout) < 3000 {
			js.WriteString(header + " --json\n" + r.stdout + "\n")
		}
	}
	golden(t, "dump_values.golden", text.String())
	golden(t, "dump_json.golden", js.String())
}

// TestDumpJSONValues checks that --json values read back as the tensor's
// values, for every dtype.
func TestDumpJSONValues(t *testing.T) {
	path := filepath.Join(conformance, "valid", "all_dtypes.safetensors")
	f, err := loader.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for name, info := range f.Tensors() {
		tt, _ := f.Tensor(name)
		b, _ := tt.Bytes()
		r := stload(t, "dump", "--json", path, name)
		var out struct {
			Values [][]json.RawMessage `json:"values"`
		}
		decodeLine(t, r.stdout, &out)
		var flat []json.RawMessage
		for _, row := range out.Values {
			flat = append(flat, row...)
		}
		if uint64(len(flat)) != info.NumElements() {
			t.Fatalf("%s: %d values, want %d", name, len(flat), info.NumElements())
		}
		vals, err := decodeValues(info.DType, b)
		if err != nil {
			t.Fatal(err)
		}
		for i, raw := range flat {
			var got any
			json.Unmarshal(raw, &got)
			want := vals[i]
			switch kindOfDType(info.DType) {
			case kindBool:
				if got != (want.u != 0) {
					t.Errorf("%s[%d] = %s, want %v", name, i, raw, want.u != 0)
				}
			case kindUint, kindInt:
				s := string(raw)
				if w := string(appendJSONValue(nil, kindOfDType(info.DType), 0, want)); s != w {
					t.Errorf("%s[%d] = %s, want %s", name, i, s, w)
				}
			case kindFloat:
				if !sameFloat(t, raw, want.re) {
					t.Errorf("%s[%d] = %s, want %v", name, i, raw, want.re)
				}
			case kindComplex:
				var pair []json.RawMessage
				json.Unmarshal(raw, &pair)
				if len(pair) != 2 || !sameFloat(t, pair[0], want.re) || !sameFloat(t, pair[1], want.im) {
					t.Errorf("%s[%d] = %s, want %v%+vi", name, i, raw, want.re, want.im)
				}
			}
		}
		// The floating values are those dtype decodes.
		if info.DType.Float() && info.DType != dtype.C64 {
			fs := make([]float32, info.NumElements())
			if err := dtype.ToFloat32(fs, b, info.DType); err != nil {
				t.Fatal(err)
			}
			for i, x := range fs {
				if !sameFloat(t, flat[i], float64(x)) && info.DType != dtype.F64 {
					t.Errorf("%s[%d] = %s, want %v", name, i, flat[i], x)
				}
			}
		}
	}
}

func sameFloat(t *testing.T, raw json.RawMessage, want float64) bool {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		switch s {
		case "NaN":
			return math.IsNaN(want)
		case "Infinity":
			return math.IsInf(want, 1)
		case "-Infinity":
			return math.IsInf(want, -1)
		}
		return false
	}
	var x float64
	if err := json.Unmarshal(raw, &x); err != nil {
		t.Fatal(err)
	}
	if float64(float32(want)) == want {
		return float32(x) == float32(want) && math.Signbit(x) == math.Signbit(want)
	}
	return x == want
}

func TestDumpErrors(t *testing.T) {
	valid := filepath.Join(conformance, "valid", "all_dtypes.safetensors")
	bad := filepath.Join(conformance, "invalid", "offsets_overlap.safetensors")
	tests := []struct {
		args []string
		kind string
	}{
		{[]string{valid, "nope"}, "TensorNotFound"},
		{[]string{"--slice", "0,0,0", valid, "t_f32"}, "TooManySlices"},
		{[]string{"--slice", "2", valid, "t_f32"}, "SliceOutOfRange"},
		{[]string{"--slice", "0:5", valid, "t_f32"}, "SliceOutOfRange"},
		{[]string{"--slice", ":,1:2", valid, "t_f4"}, "MisalignedSlice"},
		{[]string{"--slice", "x", valid, "t_f32"}, "InvalidSlice"},
		{[]string{"--slice", "1:0", valid, "t_f32"}, "InvalidSlice"},
		{[]string{"--slice", "0:2:-1", valid, "t_f32"}, "InvalidSlice"},
		{[]string{bad, "a"}, "InvalidOffset"},
		{[]string{filepath.Join(t.TempDir(), "missing"), "a"}, "IoError"},
	}
	for _, tc := range tests {
		for _, mode := range []string{"--sha256", "--json"} {
			r := stload(t, append([]string{"dump", mode}, tc.args...)...)
			var got errorJSON
			decodeLine(t, r.stdout, &got)
			if r.code != 1 || got.OK || got.Kind != tc.kind || got.Error == "" || r.stderr != "" {
				t.Errorf("%s %q: %v, want kind %s", mode, tc.args, r, tc.kind)
			}
		}
		// Without JSON, the error goes to stderr.
		r := stload(t, append([]string{"dump", "--raw"}, tc.args...)...)
		if r.code != 1 || r.stdout != "" || !strings.Contains(r.stderr, "["+tc.kind+"]") {
			t.Errorf("%q: %v, want kind %s on stderr", tc.args, r, tc.kind)
		}
	}
}

// TestDumpSHA256Steps checks --sha256 against a gathered slice for the
// syntax beyond the reference: negative indices and steps.
func TestDumpSHA256Steps(t *testing.T) {
	path := filepath.Join(conformance, "valid", "big_tensor.safetensors")
	f, err := loader.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, spec := range []string{"-1", "-3:", "::7,5:-5", "1:700:3,::2", "767"} {
		idx, err := loader.ParseSpec(spec)
		if err != nil {
			t.Fatal(err)
		}
		big, _ := f.Tensor("big")
		s, err := big.Slice(idx...)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := s.Bytes()
		want, _ := json.Marshal(dumpSHA{OK: true, Shape: s.Shape, NBytes: int64(len(b)), SHA256: sum(b)})
		r := stload(t, "dump", "--sha256", "--slice", spec, path, "big")
		if r.code != 0 || r.stdout != string(want)+"\n" {
			t.Errorf("%s: %v, want %s", spec, r, want)
		}
	}
}
