package main

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	good1 := filepath.Join(conformance, "valid", "all_dtypes.safetensors")
	good2 := filepath.Join(conformance, "valid", "tiny_transformer.safetensors")
	hole := filepath.Join(conformance, "invalid", "offsets_hole.safetensors")
	short := filepath.Join(conformance, "invalid", "file_7_bytes.safetensors")
	dup := filepath.Join(conformance, "invalid", "dup_tensor_identical.safetensors")
	missing := filepath.Join(dir, "missing.safetensors")

	tests := []struct {
		name  string
		args  []string
		code  int
		lines []string // substrings, one per stdout line, in order
	}{
		{"all valid", []string{good1, good2}, 0, nil},
		{"one invalid", []string{good1, hole, good2}, 1, []string{
			hole + `: InvalidOffset: tensor "b": invalid offset: data_offsets [12, 20] do not start where the previous tensor ends (8) (at byte `}},
		{"several invalid", []string{short, good1, missing, dup}, 1, []string{
			short + ": HeaderTooSmall: ",
			missing + ": IoError: ",
			dup + ": DuplicateKey: ",
		}},
		{"lenient", []string{"--lenient", dup, good1}, 0, nil},
		{"json", []string{"--json", good1, hole, missing}, 1, []string{
			`{"file":"` + good1 + `","ok":true}`,
			`{"file":"` + hole + `","ok":false,"kind":"InvalidOffset","error":"` + hole + `: tensor \"b\": invalid offset: `,
			`{"file":"` + missing + `","ok":false,"kind":"IoError","error":"` + missing + `: open: no such file or directory"}`,
		}},
		{"json all valid", []string{good1, "--json"}, 0, []string{`{"file":"` + good1 + `","ok":true}`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := stload(t, append([]string{"validate"}, tc.args...)...)
			if r.code != tc.code {
				t.Fatalf("exit %d, want %d\n%v", r.code, tc.code, r)
			}
			if r.stderr != "" {
				t.Errorf("stderr: %s", r.stderr)
			}
			got := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
			if r.stdout == "" {
				got = nil
			}
			if len(got) != len(tc.lines) {
				t.Fatalf("%d lines, want %d:\n%s", len(got), len(tc.lines), r.stdout)
			}
			for i, want := range tc.lines {
				if !strings.HasPrefix(got[i], want) {
					t.Errorf("line %d:\n got %s\nwant %s...", i, got[i], want)
				}
			}
		})
	}
}

// TestValidateConformance validates every conformance file: exit 0 for
// the ones the reference accepts (and stload does not reject on purpose),
// 1 with one line naming the file and kind for the others.
func TestValidateConformance(t *testing.T) {
	for _, path := range conformanceFiles(t) {
		want := readVerdict(t, path)
		if k, ok := stricter[filepath.Base(path)]; ok {
			want.OK, want.Kind = false, k
		}
		r := stload(t, "validate", path)
		switch {
		case want.OK && (r.code != 0 || r.stdout != ""):
			t.Errorf("%s: %v, want exit 0 and no output", path, r)
		case !want.OK && (r.code != 1 || !strings.HasPrefix(r.stdout, path+": "+want.Kind+": ") || strings.Count(r.stdout, "\n") != 1):
			t.Errorf("%s: %v, want exit 1 and one %s line", path, r, want.Kind)
		}
	}
}

// TestValidateTerminal checks that validate says "ok" for each valid input
// on a terminal, and stays quiet about them in a pipe (TestValidate).
func TestValidateTerminal(t *testing.T) {
	good := filepath.Join(conformance, "valid", "all_dtypes.safetensors")
	hole := filepath.Join(conformance, "invalid", "offsets_hole.safetensors")
	r := stloadOn(t, tty(true), "validate", good, hole, tinyLlamaPath)
	want := good + ": ok\n" + hole + ": InvalidOffset: "
	if r.code != 1 || !strings.HasPrefix(r.stdout, want) || !strings.HasSuffix(r.stdout, "\n"+tinyLlamaPath+": ok\n") || r.stderr != "" {
		t.Errorf("%v", r)
	}
	// --json is the same on a terminal.
	r = stloadOn(t, tty(true), "validate", "--json", good)
	if r.code != 0 || r.stdout != `{"file":"`+good+`","ok":true}`+"\n" {
		t.Errorf("--json: %v", r)
	}
}
